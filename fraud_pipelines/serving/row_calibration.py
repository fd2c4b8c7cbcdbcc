"""The model's calibration of one raw score in plain Python floats, for the one-row path.

Why: `Calibrator.transform` (training.calibration) makes arrays and runs seven numpy calls for a
Platt curve: ~10 us in a hot loop, ~22-30 us when the server runs it cold between requests. Here the
arithmetic is on Python floats and only log, log1p and exp are numpy's (on scalars: numpy's SIMD
functions, which differ from the C library's `math` ones in the last bit for ~4 % of scores, and
give the same bits on a scalar as in an array). It is only an accelerator: `row_calibration` checks
it against `transform` bit for bit on many scores at load time and returns None (use `transform`)
when they differ or the curve is not one it reproduces (isotonic steps stay with numpy's `interp`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from fraud_pipelines.training.calibration import EPS

log = logging.getLogger(__name__)


def row_calibration(calibrator: Any) -> Callable[[float], float] | None:
    """A function of one raw score (a float32 value as a Python float) giving `calibrator.transform`'s
    float64 result to the bit, or None where this module does not reproduce it."""
    kind = getattr(calibrator, "kind", None)
    if kind == "identity":
        def identity(score: float) -> float:
            return score
        calibrate = identity
    elif kind == "platt":
        coef, intercept, low, high = float(calibrator.coef), float(calibrator.intercept), EPS, 1.0 - EPS
        log_, log1p, exp = np.log, np.log1p, np.exp  # numpy's, not math's: see the module's docstring

        def platt(score: float) -> float:
            clipped = low if score < low else high if score > high else score
            return 1.0 / (1.0 + float(exp(-(coef * (float(log_(clipped)) - float(log1p(-clipped))) + intercept))))
        calibrate = platt
    else:
        return None
    scores = _probe_scores()
    expected = np.asarray(calibrator.transform(scores), dtype=np.float64)
    got = np.array([calibrate(s) for s in scores.tolist()], dtype=np.float64)
    if not np.array_equal(got.view(np.int64), expected.view(np.int64)):
        log.warning("one-row calibration: Python floats disagree with Calibrator.transform on %d of %d scores; "
                    "numpy's transform serves", int(np.sum(got != expected)), len(scores))
        return None
    return calibrate


def _probe_scores() -> np.ndarray:
    """Raw scores as the trees give them (float32 values, as float64): spread over (0, 1), near both
    ends, the clipping bounds and the exact ends."""
    rng = np.random.default_rng(0)
    uniform = rng.random(20_000, dtype=np.float32)
    logit = (1.0 / (1.0 + np.exp(-rng.normal(0.0, 8.0, 20_000)))).astype(np.float32)
    edges = np.array([0.0, 1.0, EPS, 1.0 - EPS, 1e-8, 1.0 - 1e-8, 0.5], dtype=np.float32)
    return np.concatenate([uniform, logit, edges, np.nextafter(edges, np.float32(1.0))]).astype(np.float64)
