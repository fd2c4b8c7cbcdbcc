"""The governance arithmetic against direct computations: fairness slices against plain pandas,
value against a hand computation on a tiny labelled set, the competition against scikit-learn and
the promotion bootstrap it reuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fraud_pipelines.governance.competition import compete
from fraud_pipelines.governance.fairness import age_at_charge, age_band, fairness_report
from fraud_pipelines.governance.value import value_by_day, value_by_version
from fraud_pipelines.training.promotion import bootstrap_pr_auc_difference


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 3_000
    sex = rng.choice(["F", "M"], size=n)
    age = rng.uniform(18, 90, size=n)
    age[:20] = np.nan
    y = (rng.random(n) < np.where(sex == "F", 0.05, 0.08)).astype(np.int64)
    score = np.clip(0.5 * y + rng.normal(0.2, 0.2, size=n) + (sex == "M") * 0.05, 0, 1)
    return pd.DataFrame({"is_fraud": y, "fraud_score": score, "decision": (score >= 0.45).astype(np.int8),
                         "sex": sex, "age_band": age_band(age_at_charge(pd.DataFrame({"age_at_transaction": age})))})


def test_age_bands():
    ages = pd.Series([17.9, 24.99, 25.0, 44.5, 64.99, 65.0, 101.0, np.nan, -3.0])
    assert age_band(ages).tolist() == ["<25", "<25", "25-34", "35-44", "55-64", "65+", "65+", "unknown", "unknown"]


def test_slice_metrics_equal_a_direct_pandas_computation(scored):
    report = fairness_report(scored, ("sex", "age_band"), max_ratio=1.1)
    for attribute in ("sex", "age_band"):
        for group in scored[attribute].unique():
            part = scored[scored[attribute] == group]
            tp = ((part.decision == 1) & (part.is_fraud == 1)).sum()
            fp = ((part.decision == 1) & (part.is_fraud == 0)).sum()
            got = report.slices.set_index(["attribute", "group"]).loc[(attribute, group)]
            assert got["rows"] == len(part) and got["positives"] == part.is_fraud.sum()
            assert got["recall"] == pytest.approx(tp / part.is_fraud.sum()) if part.is_fraud.sum() else np.isnan(
                got["recall"])
            assert got["fpr"] == pytest.approx(fp / (part.is_fraud == 0).sum())
            assert got["alert_rate"] == pytest.approx((part.decision == 1).mean())
            if 0 < part.is_fraud.sum() < len(part):
                assert got["pr_auc"] == pytest.approx(average_precision_score(part.is_fraud, part.fraud_score))
    sexes = report.slices[report.slices.attribute == "sex"].set_index("group")
    fpr = report.disparity.set_index(["attribute", "metric"]).loc[("sex", "fpr")]
    assert fpr["ratio"] == pytest.approx(sexes["fpr"].max() / sexes["fpr"].min())
    assert "unknown" not in set(report.disparity["lowest_group"]) | set(report.disparity["highest_group"])
    assert report.worst() == report.disparity["ratio"].max() > 1.1
    assert len(report.warnings()) == (report.disparity["ratio"] > 1.1).sum() > 0


def test_value_equals_a_hand_computation_on_a_tiny_labelled_set():
    scored = pd.DataFrame({
        "tid": [1, 2, 3, 4, 5, 6, 7],
        "day": ["2025-01-01"] * 4 + ["2025-01-02"] * 3,
        "decision": [1, 1, 0, 0, 1, 0, 1],
        "model_version": ["3"] * 7,
    })
    labels = pd.DataFrame({"tid": [1, 2, 3, 4, 5, 6], "is_fraud": [1, 0, 1, 0, 0, 1]})  # tid 7: no label yet
    amounts = pd.DataFrame({"tid": [1, 2, 3, 4, 5, 6, 7], "amount": [100.0, 20.0, 300.0, 5.0, 7.0, 40.0, 999.0]})
    by_day = value_by_day(scored, labels, amounts, review_cost=2.5).set_index("day")
    # day 1: caught tid 1 (100), missed tid 3 (300), one false alert (tid 2): net 100 - 2.5
    counts = ["charges", "frauds", "alerts", "caught", "false_alerts"]
    assert by_day.loc["2025-01-01", counts].tolist() == [4, 2, 2, 1, 1]
    assert by_day.loc["2025-01-01", "fraud_amount_caught"] == 100.0
    assert by_day.loc["2025-01-01", "fraud_amount_missed"] == 300.0
    assert by_day.loc["2025-01-01", "net_value"] == 97.5
    # day 2: tid 5 a false alert, tid 6 missed (40), tid 7 unlabelled and left out
    assert by_day.loc["2025-01-02", ["charges", "caught", "false_alerts", "review_cost"]].tolist() == [2, 0, 1, 2.5]
    assert by_day.loc["2025-01-02", "fraud_amount_missed"] == 40.0 and by_day.loc["2025-01-02", "net_value"] == -2.5
    total = value_by_version(by_day.reset_index()).iloc[0]
    assert (total["days"], total["net_value"], total["fraud_amount_missed"]) == (2, 95.0, 340.0)
    with pytest.raises(ValueError, match="no amount for 1 scored charges"):
        value_by_day(scored, labels, amounts[amounts.tid != 2], review_cost=1.0)


def test_competition_equals_direct_metrics_and_the_promotion_bootstrap(scored):
    frame = scored.assign(tid=np.arange(len(scored)), day="2025-01-0" + (np.arange(len(scored)) % 3 + 1).astype(str))
    rng = np.random.default_rng(1)
    challenger_score = np.clip(frame.fraud_score + rng.normal(0, 0.1, len(frame)), 0, 1)
    champion = frame.assign(threshold=0.45, model_version="1")
    challenger = frame.assign(fraud_score=challenger_score, decision=(challenger_score >= 0.5).astype(np.int8),
                              threshold=0.5, model_version="2")
    labels = frame[["tid", "is_fraud"]].iloc[:2_500]  # the rest not labelled yet
    result = compete(champion, challenger, labels, n_resamples=200, seed=3)
    assert (result.rows, result.positives) == (2_500, int(labels.is_fraud.sum()))
    metrics = result.metrics.set_index("role")
    y = labels.is_fraud.to_numpy()
    assert metrics.at["champion", "pr_auc"] == pytest.approx(average_precision_score(y, frame.fraud_score[:2_500]))
    assert metrics.at["challenger", "recall"] == pytest.approx(
        ((challenger.decision[:2_500] == 1) & (y == 1)).sum() / y.sum())
    expected = bootstrap_pr_auc_difference(y, challenger_score[:2_500], frame.fraud_score[:2_500], n_resamples=200,
                                           seed=3)
    assert result.interval == expected
    assert result.days == ("2025-01-01", "2025-01-02", "2025-01-03")
    assert "promotion stays the registry's rule" in result.verdict()
