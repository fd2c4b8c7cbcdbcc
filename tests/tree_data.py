"""Small data that XGBoost's trees split in every way the tree walks must reproduce: an encoded
category, many rows on the same values (hence on the thresholds) and missing values."""

from __future__ import annotations

import numpy as np


def tree_data(seed: int, n: int = 3_000, width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """`n` rows of `width` features (15 % missing) and their 0/1 labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 50.0, size=(n, width))
    x[:, 0] = rng.integers(-1, 12, size=n)  # an encoded category
    x[:, 1] = np.round(x[:, 1], 1)  # many rows on the same values, hence on the thresholds
    y = ((x[:, 0] > 7) ^ (x[:, 2] + rng.normal(0, 20, n) > 30)).astype(int)
    x[rng.random(x.shape) < 0.15] = np.nan
    return x, y
