"""Global importance of a model: per feature, the mean |contribution| over a set of charges (and
the mean signed contribution), from the same per-row contributions reason codes use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def global_importance(contributions: np.ndarray, feature_names: Sequence[str]) -> pd.DataFrame:
    """feature, mean_abs_contribution, mean_contribution; largest mean |contribution| first (ties in
    feature order). `contributions` has one column per feature, then the bias (left out)."""
    names = list(feature_names)
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(names) + 1 or not len(values):
        raise ValueError(f"expected contributions of shape (rows > 0, {len(names) + 1}), got {values.shape}")
    per_feature = values[:, : len(names)]
    frame = pd.DataFrame({"feature": names, "mean_abs_contribution": np.abs(per_feature).mean(axis=0),
                          "mean_contribution": per_feature.mean(axis=0)})
    return frame.sort_values("mean_abs_contribution", ascending=False, kind="stable").reset_index(drop=True)
