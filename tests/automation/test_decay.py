"""Live PR-AUC and the decay judgement as plain functions, without Dagster: a hand-computed PR-AUC
on a tiny labelled set, only the asked version's scores of the asked days, and the thresholds."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from fraud_pipelines.automation.decay import LivePerformance, judge_decay, live_performance_of

DAYS = [date(2025, 1, 10), date(2025, 1, 11)]


def _scored() -> pd.DataFrame:
    rows = [  # tid, datetime (UTC), fraud_score, model_version
        (1, "2025-01-10T08:00Z", 0.9, "3"), (2, "2025-01-10T09:00Z", 0.8, "3"),
        (3, "2025-01-11T23:59Z", 0.7, "3"), (4, "2025-01-11T00:00Z", 0.1, "3"),
        (5, "2025-01-12T00:00Z", 0.95, "3"),  # a day not asked for
        (6, "2025-01-10T10:00Z", 0.99, "2"),  # another version
        (7, "2025-01-10T11:00Z", 0.5, "3"),  # no label yet
    ]
    frame = pd.DataFrame(rows, columns=["tid", "datetime", "fraud_score", "model_version"])
    return frame.assign(datetime=pd.to_datetime(frame["datetime"], utc=True))


LABELS = pd.DataFrame({"tid": [1, 2, 3, 4, 5, 6], "is_fraud": [1, 0, 1, 0, 0, 0]})


def test_live_pr_auc_equals_a_hand_computation_on_the_versions_scores_of_the_days():
    live = live_performance_of(_scored(), LABELS, "3", list(reversed(DAYS)))
    # ranked 0.9 (fraud), 0.8, 0.7 (fraud), 0.1: precision 1 at recall 0.5, 2/3 at recall 1
    assert live == LivePerformance(DAYS, rows=4, positives=2, pr_auc=pytest.approx(0.5 * 1 + 0.5 * 2 / 3))


def test_live_pr_auc_is_none_without_both_classes():
    only_legit = LABELS.assign(is_fraud=0)
    assert live_performance_of(_scored(), only_legit, "3", DAYS).pr_auc is None
    assert live_performance_of(_scored(), LABELS, "9", DAYS) == LivePerformance(DAYS, 0, 0, None)


@pytest.mark.parametrize(
    ("live", "retrain", "drop", "why"),
    [
        (LivePerformance(DAYS, 100, 4, 0.2), False, None, "4 frauds among 100 charges: need 5 to judge decay"),
        (LivePerformance(DAYS, 100, 5, 0.75), False, pytest.approx(0.05),
         "PR-AUC 0.750 on 100 charges; test PR-AUC 0.800 (drop 0.050 < 0.1)"),
        (LivePerformance(DAYS, 100, 5, 0.6), True, pytest.approx(0.2),
         "PR-AUC fell to 0.600 on 100 charges, 0.200 below its test PR-AUC 0.800 (allowed drop 0.1)"),
    ],
)
def test_decay_is_judged_on_enough_frauds_and_the_allowed_drop(live, retrain, drop, why):
    decay = judge_decay(live, 0.8, pr_auc_drop=0.1, min_positives=5, where="100 charges")
    assert (decay.retrain, decay.drop, decay.why) == (retrain, drop, why)
