"""Champion against challenger on the same labelled charges: each one's PR-AUC and recall at its
own threshold, and a paired bootstrap of the PR-AUC difference (`training.promotion`'s). A report
only: whether the challenger takes over stays the registry's promotion rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.promotion import BootstrapInterval, bootstrap_pr_auc_difference


@dataclass(frozen=True)
class Competition:
    """The outcome on `rows` labelled charges that both versions scored."""

    champion_version: str
    challenger_version: str
    days: tuple[str, ...]
    rows: int
    positives: int
    metrics: pd.DataFrame  # role, model_version, pr_auc, recall, precision, alert_rate, threshold
    interval: BootstrapInterval | None  # challenger - champion PR-AUC; None without both classes

    def verdict(self) -> str:
        """One sentence: who is ahead, and whether beyond the noise."""
        if self.interval is None:
            return (f"challenger v{self.challenger_version} and champion v{self.champion_version}: "
                    f"{self.rows} shared labelled charges with {self.positives} frauds, too few to compare")
        ahead = "ahead of" if self.interval.difference > 0 else "behind"
        noise = ("beyond the noise" if self.interval.clears_zero() or self.interval.high < 0
                 else "within the noise")
        return (f"challenger v{self.challenger_version} is {ahead} champion v{self.champion_version} by "
                f"{self.interval.describe()} PR-AUC on {self.rows:,} labelled charges of {len(self.days)} days, "
                f"{noise}; promotion stays the registry's rule")

    def to_dict(self) -> dict[str, Any]:
        return {"champion_version": self.champion_version, "challenger_version": self.challenger_version,
                "days": list(self.days), "rows": self.rows, "positives": self.positives,
                "metrics": self.metrics.to_dict(orient="records"), "verdict": self.verdict(),
                "interval": None if self.interval is None else vars(self.interval)}


def compete(champion: pd.DataFrame, challenger: pd.DataFrame, labels: pd.DataFrame, *,
            n_resamples: int = 1_000, confidence: float = 0.95, seed: int = 0) -> Competition:
    """Compare two versions' scores (tid, day, fraud_score, decision, threshold, model_version; one
    version each) on the labelled charges both scored."""
    versions = {}
    for role, frame in (("champion", champion), ("challenger", challenger)):
        found = frame["model_version"].astype(str).unique().tolist()
        if len(found) != 1:
            raise ValueError(f"{role} scores must come from one model version, got {found[:5]}")
        versions[role] = found[0]
    from sklearn.metrics import average_precision_score  # scikit-learn only where PR-AUC is computed

    cols = ["tid", "day", "fraud_score", "decision", "threshold"]
    both = champion[cols].merge(challenger[cols].drop(columns=["day"]), on="tid", suffixes=("_champion", "_challenger"))
    both = both.merge(labels[["tid", "is_fraud"]], on="tid", how="inner").sort_values("tid", kind="stable")
    y = both["is_fraud"].to_numpy(dtype=np.int64)
    rows = []
    for role in ("champion", "challenger"):
        flagged = both[f"decision_{role}"].to_numpy(dtype=np.int64) == 1
        positives = int(y.sum())
        rows.append({
            "role": role, "model_version": versions[role],
            "pr_auc": float(average_precision_score(y, both[f"fraud_score_{role}"])) if 0 < positives < len(y)
            else np.nan,
            "recall": float((flagged & (y == 1)).sum() / positives) if positives else np.nan,
            "precision": float((flagged & (y == 1)).sum() / flagged.sum()) if flagged.any() else np.nan,
            "alert_rate": float(flagged.mean()) if len(y) else np.nan,
            "threshold": float(both[f"threshold_{role}"].iloc[0]) if len(both) else np.nan,
        })
    interval = None
    if 0 < y.sum() < len(y):
        interval = bootstrap_pr_auc_difference(y, both["fraud_score_challenger"].to_numpy(),
                                               both["fraud_score_champion"].to_numpy(), n_resamples=n_resamples,
                                               confidence=confidence, seed=seed)
    return Competition(versions["champion"], versions["challenger"], tuple(sorted(both["day"].astype(str).unique())),
                       len(both), int(y.sum()), pd.DataFrame(rows), interval)
