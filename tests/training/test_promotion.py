"""The promotion rule: a paired, class-stratified bootstrap of the PR-AUC difference. Its per-resample
average precision equals scikit-learn's on the same resampled rows; its interval is reproducible
from the seed and close to a plain loop's; it refuses a challenger equal to the champion up to
noise and accepts one clearly better, and it must clear every compared version."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from fraud_pipelines.training import promotion
from fraud_pipelines.training.evaluation import evaluate
from fraud_pipelines.training.model import train_model
from fraud_pipelines.training.promotion import PromotionDecision, PromotionPolicy, bootstrap_pr_auc_difference, decide

from .conftest import FAST_PARAMS


def _noisy(seed: int, n: int = 4_000, rate: float = 0.02, signal: float = 0.3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int8)
    scores = np.clip(rng.normal(0.3 + signal * y, 0.2), 0, 1)
    return y, scores, rng


def test_average_precision_from_counts_equals_scikit_learn_on_the_resampled_rows():
    y, scores, rng = _noisy(1)
    scores = np.round(scores, 2)  # many ties, inside and across the classes
    positive = y == 1
    group, bucket, n_groups = promotion._ranks(scores[positive], scores[~positive])
    for _ in range(5):
        weights = rng.integers(0, 4, size=len(y)).astype(np.float64)  # how often each row is drawn
        tp = promotion._one_hot(group, n_groups).T @ weights[positive]
        fp = promotion._one_hot(bucket, n_groups + 1).T @ weights[~positive]
        ours = promotion._average_precision(tp[None, :], fp[None, :], int(positive.sum()))[0]
        # scikit-learn's AP divides by the resample's positive weight; a stratified resample keeps
        # exactly the split's positives, so scale to compare the formula on any weights
        expected = average_precision_score(y, scores, sample_weight=weights) * weights[positive].sum() / positive.sum()
        assert ours == pytest.approx(expected, rel=1e-12)


def test_interval_is_reproducible_with_the_seed_and_agrees_with_a_plain_loop():
    y, champion, rng = _noisy(2)
    challenger = np.clip(champion + rng.normal(0, 0.1, len(y)) + 0.05 * y, 0, 1)
    first = bootstrap_pr_auc_difference(y, challenger, champion, n_resamples=500, seed=3)
    assert bootstrap_pr_auc_difference(y, challenger, champion, n_resamples=500, seed=3) == first
    assert bootstrap_pr_auc_difference(y, challenger, champion, n_resamples=500, seed=4) != first
    observed = average_precision_score(y, challenger) - average_precision_score(y, champion)
    assert first.difference == pytest.approx(observed)
    assert first.low < first.difference < first.high

    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    loop = []
    for _ in range(500):
        rows = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        loop.append(average_precision_score(y[rows], challenger[rows])
                    - average_precision_score(y[rows], champion[rows]))
    low, high = np.quantile(loop, [0.025, 0.975])
    width = high - low
    assert abs(first.low - low) < 0.15 * width and abs(first.high - high) < 0.15 * width


def test_both_ways_of_drawing_negatives_give_the_same_distribution():
    y, a, rng = _noisy(5, n=20_000)
    b = np.clip(a + rng.normal(0, 0.05, len(y)), 0, 1)
    few = bootstrap_pr_auc_difference(y, np.round(a, 2), np.round(b, 2), seed=1)  # few bucket pairs: multinomial
    many = bootstrap_pr_auc_difference(y, a * (1 - 1e-9 * rng.random(len(y))), b, seed=1)  # rows drawn one by one
    assert few.high - few.low == pytest.approx(many.high - many.low, rel=0.35)


def test_a_few_positives_are_in_every_resample():
    y = np.zeros(300, dtype=np.int8)
    y[[10, 150, 290]] = 1
    rng = np.random.default_rng(0)
    interval = bootstrap_pr_auc_difference(y, rng.random(300), rng.random(300), n_resamples=200)
    assert np.isfinite([interval.low, interval.high]).all()


def _evaluation(y, scores, name="challenger"):
    return evaluate(y, scores, threshold=0.5, name=name)


def test_a_challenger_equal_to_the_champion_up_to_noise_is_refused():
    y, champion, rng = _noisy(7)
    challenger = np.clip(champion + rng.normal(0, 0.01, len(y)), 0, 1)  # a retraining that changed nothing
    decision = decide(_evaluation(y, challenger), challenger, y, [("1", "champion", champion)], champion_version="1")
    assert not decision.better
    interval = decision.champion_comparison().interval
    assert interval.low <= 0 < interval.high
    assert "does not beat champion v1" in decision.reason and "95% CI" in decision.reason
    same = decide(_evaluation(y, champion), champion, y, [("1", "champion", champion)], champion_version="1")
    assert not same.better and same.champion_comparison().interval.difference == 0


def test_a_clearly_better_model_is_promoted(splits, trained):
    weak = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                       replace(FAST_PARAMS, n_estimators=1, max_depth=1, early_stopping_rounds=1))
    strong_scores, weak_scores = trained.predict_proba(splits.X_test), weak.predict_proba(splits.X_test)
    decision = decide(_evaluation(splits.y_test, strong_scores), strong_scores, splits.y_test,
                      [("1", "champion", weak_scores)], champion_version="1")
    assert decision.better and decision.champion_comparison().interval.low > 0
    assert "challenger beats champion v1" in decision.reason
    assert PromotionDecision.from_dict(decision.to_dict()) == decision
    tags = decision.tags()
    assert tags["promotion.compared_versions"] == "1" and float(tags["promotion.ci_low"]) > 0


def test_the_challenger_must_beat_every_compared_version():
    y, champion, rng = _noisy(11)
    better_than_champion = np.clip(champion + 0.15 * y + rng.normal(0, 0.02, len(y)), 0, 1)
    older_and_as_good = np.clip(better_than_champion + rng.normal(0, 0.01, len(y)), 0, 1)
    references = [("3", "champion", champion), ("2", "previous", older_and_as_good), ("1", "previous", champion)]
    decision = decide(_evaluation(y, better_than_champion), better_than_champion, y, references,
                      champion_version="3", policy=PromotionPolicy(n_resamples=300, confidence=0.9))
    assert not decision.better
    assert [c.version for c in decision.comparisons] == ["3", "2", "1"]
    assert decision.champion_comparison().interval.low > 0  # better than the champion...
    assert "beats champion v3" in decision.reason and "not promoted" in decision.reason
    assert "not: v2" in decision.reason  # ...but not beyond the noise against v2
    assert decision.tags()["promotion.compared_versions"] == "3,2,1" and "v2 (previous)" in decision.table()
    only_champion = decide(_evaluation(y, better_than_champion), better_than_champion, y, references,
                           champion_version="3", policy=PromotionPolicy(n_resamples=300, beat_previous=False))
    assert only_champion.better and len(only_champion.comparisons) == 3  # compared and recorded, not deciding


def test_the_first_model_is_promoted_and_bad_policies_are_refused():
    y, scores, _ = _noisy(13)
    first = decide(_evaluation(y, scores), scores, y, [], champion_version=None)
    assert first.better and "first champion" in first.reason and first.tags()["promotion.compared_versions"] == "none"
    with pytest.raises(ValueError, match="champion v1 must be among the references"):
        decide(_evaluation(y, scores), scores, y, [("0", "previous", scores)], champion_version="1")
    with pytest.raises(ValueError, match="confidence"):
        PromotionPolicy(confidence=1.0)
