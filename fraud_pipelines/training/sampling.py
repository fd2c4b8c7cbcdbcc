"""The rows a fit sees when the train split is larger than its budget: every fraud, a seeded sample of the genuine
charges, each sampled genuine charge weighted by how many it stands for.

Boosting time grows with the rows while the frauds, the signal, are a fraction of a percent of them: at 10M charges
the 7M train rows hold 35k frauds. Keeping every fraud and `budget - frauds` genuine charges drawn without
replacement, weighted `genuine / drawn`, keeps the loss an unbiased estimate of the full split's (the weighted
genuine charges add up to their true count, so `scale_pos_weight`, `min_child_weight` and `reg_lambda` mean what they
meant on every row) at a fraction of the rounds' cost. Early stopping, calibration and the threshold still use every
validation row, and the test split is scored whole: the sample changes what the trees learn from, never what they
are judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WeightedSample:
    """Which train rows a fit uses and their weights; `rows` None means every row, unweighted."""

    rows: np.ndarray | None
    weights: np.ndarray | None
    negative_rate: float  # share of the genuine charges drawn (1.0: all)
    n_rows: int  # rows fitted

    @property
    def sampled(self) -> bool:
        return self.rows is not None

    def take(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """These rows of a frame and its labels (the same objects when every row is used)."""
        return (X, y) if self.rows is None else (X.iloc[self.rows], y[self.rows])


def weighted_sample(labels: np.ndarray, max_rows: int, seed: int) -> WeightedSample:
    """The rows of a split a fit (or early stopping) reads: every fraud and at most `max_rows` rows in all (0: no
    limit), genuine charges drawn uniformly without replacement with `seed`, in the split's order; at least as
    many genuine charges as frauds are kept, so a budget below twice the frauds still fits on both classes."""
    labels = np.asarray(labels)
    if max_rows < 0:
        raise ValueError(f"a row budget must be >= 0 (0: every row), got {max_rows}")
    if max_rows == 0 or len(labels) <= max_rows:
        return WeightedSample(None, None, 1.0, len(labels))
    positive = labels == 1
    genuine = np.flatnonzero(~positive)
    n_positive = len(labels) - len(genuine)
    drawn = min(len(genuine), max(max_rows - n_positive, n_positive, 1))
    if drawn == len(genuine):
        return WeightedSample(None, None, 1.0, len(labels))
    picked = np.random.default_rng(seed).choice(len(genuine), drawn, replace=False)
    keep = positive.copy()
    keep[genuine[picked]] = True
    rows = np.flatnonzero(keep)
    weight = len(genuine) / drawn
    weights = np.where(positive[rows], 1.0, weight)
    return WeightedSample(rows, weights, drawn / len(genuine), len(rows))


def describe(n_rows: int, n_positives: int, n_fitted: int) -> str:
    """One sentence for the run's metadata: which train rows the trees were fitted on."""
    if n_fitted >= n_rows:
        return f"every train row ({n_rows:,}, {n_positives:,} frauds)"
    genuine, drawn = n_rows - n_positives, n_fitted - n_positives
    return (f"{n_fitted:,} of {n_rows:,} train rows: every fraud ({n_positives:,}) and {drawn:,} genuine charges "
            f"drawn at random ({drawn / genuine:.1%}), each weighted {genuine / drawn:.2f}")
