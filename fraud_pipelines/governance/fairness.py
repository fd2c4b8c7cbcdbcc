"""Fairness slices: how the model's errors and alerts fall on groups of card owners (sex, age
band), and the disparity between the groups. The attributes describe people: they are joined in
for this audit only and never reach the model (the feature view leaves them out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Metrics computed per group; recall and PR-AUC need positives, FPR needs negatives.
METRICS = ("recall", "fpr", "pr_auc", "alert_rate")
#: Age bands (lower bounds, years) and their labels; missing ages fall in "unknown".
AGE_EDGES = (0, 25, 35, 45, 55, 65, np.inf)
AGE_LABELS = ("<25", "25-34", "35-44", "45-54", "55-64", "65+")
UNKNOWN = "unknown"


def age_at_charge(owner: pd.DataFrame) -> pd.Series:
    """The owner's age in years at the charge. The one place that knows where it comes from: the
    `transactions` feature group's `age_at_transaction`, joined point-in-time from the owner's
    profile (change only this if the profile keeps a birth year or an age instead)."""
    return pd.to_numeric(owner["age_at_transaction"], errors="coerce").astype("float64")


def age_band(age_years: pd.Series) -> pd.Series:
    """Ages in years as bands ("<25", "25-34", ..., "65+"); missing or negative as "unknown"."""
    bands = pd.cut(age_years, bins=list(AGE_EDGES), labels=list(AGE_LABELS), right=False)
    return bands.astype("object").where(bands.notna(), UNKNOWN).astype(str)


@dataclass(frozen=True)
class FairnessReport:
    """Metrics per group and the disparity ratio (largest / smallest group value) per attribute."""

    slices: pd.DataFrame  # attribute, group, rows, positives, alerts, recall, fpr, pr_auc, alert_rate
    disparity: pd.DataFrame  # attribute, metric, lowest_group, lowest, highest_group, highest, ratio
    max_ratio: float

    def warnings(self) -> pd.DataFrame:
        """The disparities beyond `max_ratio`."""
        return self.disparity[self.disparity["ratio"] > self.max_ratio]

    def worst(self) -> float:
        """The largest disparity ratio (1.0 when nothing could be compared)."""
        ratios = self.disparity["ratio"]
        return float(ratios.max()) if len(ratios) else 1.0


def slice_metrics(frame: pd.DataFrame, attributes: Sequence[str], *, label: str = "is_fraud",
                  score: str = "fraud_score", decision: str = "decision") -> pd.DataFrame:
    """Recall at the threshold, false-positive rate, PR-AUC and alert rate per group of each attribute."""
    from sklearn.metrics import average_precision_score  # scikit-learn only where PR-AUC is computed

    missing = [c for c in (label, score, decision, *attributes) if c not in frame.columns]
    if missing:
        raise ValueError(f"fairness slices need columns {missing}; got {list(frame.columns)[:12]}")
    rows = []
    for attribute in attributes:
        for group, part in frame.groupby(attribute, sort=True, dropna=False):
            y = part[label].to_numpy(dtype=np.int64)
            flagged = part[decision].to_numpy(dtype=np.int64) == 1
            positives, negatives = int(y.sum()), int((y == 0).sum())
            rows.append({
                "attribute": attribute, "group": str(group), "rows": len(part), "positives": positives,
                "alerts": int(flagged.sum()),
                "recall": float((flagged & (y == 1)).sum() / positives) if positives else np.nan,
                "fpr": float((flagged & (y == 0)).sum() / negatives) if negatives else np.nan,
                "pr_auc": float(average_precision_score(y, part[score])) if 0 < positives < len(y) else np.nan,
                "alert_rate": float(flagged.mean()) if len(part) else np.nan,
            })
    return pd.DataFrame(rows)


def disparity(slices: pd.DataFrame, *, min_rows: int = 50, min_positives: int = 5) -> pd.DataFrame:
    """Per attribute and metric, the largest group value over the smallest (1 = parity; infinite
    when a group's value is 0 and another's is not). Groups too small to measure are left out:
    fewer than `min_rows` rows, or for recall and PR-AUC fewer than `min_positives` frauds; the
    "unknown" group is left out too."""
    rows = []
    for attribute, part in slices.groupby("attribute", sort=False):
        part = part[(part["rows"] >= min_rows) & (part["group"] != UNKNOWN)]
        for metric in METRICS:
            usable = part[part["positives"] >= min_positives] if metric in ("recall", "pr_auc") else part
            usable = usable[np.isfinite(usable[metric])]
            if len(usable) < 2:
                continue
            low, high = usable.loc[usable[metric].idxmin()], usable.loc[usable[metric].idxmax()]
            ratio = (float("inf") if low[metric] == 0 and high[metric] > 0
                     else 1.0 if high[metric] == 0 else float(high[metric] / low[metric]))
            rows.append({"attribute": attribute, "metric": metric, "lowest_group": low["group"],
                         "lowest": float(low[metric]), "highest_group": high["group"],
                         "highest": float(high[metric]), "ratio": ratio})
    columns = ["attribute", "metric", "lowest_group", "lowest", "highest_group", "highest", "ratio"]
    return pd.DataFrame(rows, columns=columns)


def fairness_report(frame: pd.DataFrame, attributes: Sequence[str] = ("sex", "age_band"), *,
                    max_ratio: float = 1.25, min_rows: int = 50, min_positives: int = 5) -> FairnessReport:
    """Slices and disparities of a labelled, scored frame (is_fraud, fraud_score, decision, attributes)."""
    if max_ratio < 1.0:
        raise ValueError(f"max_ratio is largest / smallest group value, at least 1; got {max_ratio}")
    slices = slice_metrics(frame, attributes)
    return FairnessReport(slices, disparity(slices, min_rows=min_rows, min_positives=min_positives), max_ratio)
