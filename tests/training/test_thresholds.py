"""Alert thresholds by business rule, on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_pipelines.training.model import TrainingParams
from fraud_pipelines.training.thresholds import choose_threshold

# scores descending; labels: frauds at 0.9, 0.7, 0.4; 7 genuine charges
Y = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
S = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def test_max_recall_at_fpr_takes_the_lowest_threshold_within_the_false_positive_budget():
    # 0 false positives allowed: flag 0.9 only; 1 of 7 (FPR 0.143): down to 0.7; 3 of 7: down to 0.4
    assert choose_threshold(Y, S, rule="max_recall_at_fpr", max_fpr=0.0) == 0.9
    assert choose_threshold(Y, S, rule="max_recall_at_fpr", max_fpr=0.15) == 0.7
    assert choose_threshold(Y, S, rule="max_recall_at_fpr", max_fpr=3 / 7) == 0.4


def test_max_recall_at_fpr_flags_nothing_when_the_top_score_is_genuine():
    threshold = choose_threshold([0, 1, 0], [0.9, 0.5, 0.1], rule="max_recall_at_fpr", max_fpr=0.0)
    assert 0.9 < threshold <= 1.0


def test_min_cost_weighs_false_alerts_against_missed_frauds():
    # cheap misses: alerting costs more than it saves below 0.9 -> flag 0.9 only (cost 2 misses x 1 = 2)
    assert choose_threshold(Y, S, rule="min_cost", cost_false_positive=1.0, cost_false_negative=1.0) == 0.9
    # expensive misses: catch every fraud (down to 0.4: 3 false alerts, no miss)
    assert choose_threshold(Y, S, rule="min_cost", cost_false_positive=1.0, cost_false_negative=100.0) == 0.4
    # free alerts, any ties: the highest threshold of least cost
    assert choose_threshold(Y, S, rule="min_cost", cost_false_positive=0.0, cost_false_negative=1.0) == 0.4


def test_min_cost_matches_a_brute_force_search():
    rng = np.random.default_rng(0)
    y = (rng.random(2_000) < 0.05).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    threshold = choose_threshold(y, scores, rule="min_cost", cost_false_positive=2.0, cost_false_negative=30.0)

    def cost(t):
        flagged = scores >= t
        return 2.0 * (flagged & (y == 0)).sum() + 30.0 * (~flagged & (y == 1)).sum()

    assert cost(threshold) == min(cost(t) for t in np.unique(scores))


def test_rules_and_their_settings_are_checked():
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(Y, S, rule="youden")
    with pytest.raises(ValueError, match="max_fpr"):
        TrainingParams(threshold_rule="max_recall_at_fpr", max_fpr=1.5)
    with pytest.raises(ValueError, match="costs"):
        choose_threshold(Y, S, rule="min_cost", cost_false_positive=0.0, cost_false_negative=0.0)


def test_training_applies_the_configured_rule_on_calibrated_validation_probabilities(splits):
    from fraud_pipelines.training.model import train_model

    params = TrainingParams(n_jobs=1, seed=7, n_estimators=200, threshold_rule="max_recall_at_fpr", max_fpr=0.01)
    trained = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, params)
    calibrated = trained.predict_proba(splits.X_val)
    assert trained.threshold == choose_threshold(splits.y_val, calibrated, rule="max_recall_at_fpr", max_fpr=0.01)
    genuine = np.asarray(splits.y_val) == 0
    assert (calibrated[genuine] >= trained.threshold).mean() <= 0.01
