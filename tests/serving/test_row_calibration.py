"""The one-row calibration on Python floats gives `Calibrator.transform`'s bits, or is not used."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_pipelines.serving.row_calibration import _probe_scores, row_calibration
from fraud_pipelines.training.calibration import Calibrator


@pytest.mark.parametrize("calibrator", [
    Calibrator(),
    Calibrator("platt", coef=0.83, intercept=-2.1),
    Calibrator("platt", coef=1.7, intercept=0.4),
    Calibrator("platt", coef=-0.2, intercept=3.0),
], ids=["identity", "platt", "platt-steep", "platt-decreasing"])
def test_same_bits_as_transform(calibrator):
    calibrate = row_calibration(calibrator)
    assert calibrate is not None
    rng = np.random.default_rng(7)  # other scores than the load-time check's
    scores = np.concatenate([rng.random(5_000, dtype=np.float32), np.float32([0.0, 1.0, 1e-9, 0.999999])])
    scores = scores.astype(np.float64)
    got = np.array([calibrate(s) for s in scores.tolist()])
    assert got.tobytes() == calibrator.transform(scores).tobytes()
    assert all(type(calibrate(s)) is float for s in scores[:10].tolist())


def test_isotonic_steps_stay_with_numpy():
    assert row_calibration(Calibrator("isotonic", x=(0.1, 0.5, 0.9), y=(0.0, 0.2, 1.0))) is None


def test_a_curve_it_cannot_reproduce_is_refused():
    class Shifted(Calibrator):
        """Like Platt, but transform adds one ulp: the Python formula must not be used."""

        def transform(self, raw):
            return np.nextafter(super().transform(raw), np.inf)

    assert row_calibration(Shifted("platt", coef=1.0, intercept=0.0)) is None


def test_probe_covers_the_ends_and_the_clipping_bounds():
    probe = _probe_scores()
    assert probe.min() == 0.0 and probe.max() == 1.0 and len(probe) > 40_000
    assert np.any(probe < 1e-7) and np.any(probe > 1 - 1e-7)
