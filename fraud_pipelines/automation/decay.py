"""Live performance and decay: the champion's PR-AUC on labelled charges it scored, and whether it
fell far enough below its test PR-AUC to retrain. Plain pandas and numbers (no Dagster, no I/O):
the decay sensor reads the tables (`signals`) and calls these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LivePerformance:
    """A version's scores on labelled charges of some days."""

    days: list[date]
    rows: int
    positives: int
    pr_auc: float | None  # None when the rows hold no fraud or only fraud


@dataclass(frozen=True)
class Decay:
    """The decay judgement: retrain or not, and why in one sentence."""

    retrain: bool
    drop: float | None  # test PR-AUC minus live PR-AUC; None when live performance cannot be judged
    why: str


def live_performance_of(scored: pd.DataFrame, labels: pd.DataFrame, model_version: str,
                     days: list[date]) -> LivePerformance:
    """PR-AUC of `model_version`'s scores (`scored`: tid, datetime, fraud_score, model_version) against
    `labels` (tid, is_fraud) on the charges of `days` (UTC) it scored; other versions and days are left out."""
    from sklearn.metrics import average_precision_score

    wanted = {d.isoformat() for d in days}
    scored = scored[(scored["model_version"].astype(str) == str(model_version))
                    & pd.to_datetime(scored["datetime"], utc=True).dt.strftime("%Y-%m-%d").isin(wanted)]
    joined = scored[["tid", "fraud_score"]].merge(labels[["tid", "is_fraud"]], on="tid", how="inner")
    y = joined["is_fraud"].to_numpy(dtype=np.int64)
    positives = int(y.sum())
    pr_auc = None
    if 0 < positives < len(y):
        pr_auc = float(average_precision_score(y, joined["fraud_score"].to_numpy()))
    return LivePerformance(sorted(days), len(joined), positives, pr_auc)


def judge_decay(live: LivePerformance, test_pr_auc: float, *, pr_auc_drop: float, min_positives: int,
                where: str) -> Decay:
    """Retrain when live PR-AUC is at least `pr_auc_drop` below `test_pr_auc`, judged only on
    `min_positives` frauds or more. `where` names the charges in the sentence."""
    if live.positives < min_positives or live.pr_auc is None:
        return Decay(False, None, f"{live.positives} frauds among {where}: need {min_positives} to judge decay")
    drop = test_pr_auc - live.pr_auc
    if drop < pr_auc_drop:
        return Decay(False, drop, f"PR-AUC {live.pr_auc:.3f} on {where}; test PR-AUC {test_pr_auc:.3f} "
                                  f"(drop {drop:.3f} < {pr_auc_drop})")
    return Decay(True, drop, f"PR-AUC fell to {live.pr_auc:.3f} on {where}, {drop:.3f} below its test PR-AUC "
                             f"{test_pr_auc:.3f} (allowed drop {pr_auc_drop})")
