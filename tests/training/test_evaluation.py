"""Metrics against values worked out by hand on tiny arrays, and the comparison rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from fraud_pipelines.training.evaluation import (
    Evaluation,
    compare,
    confusion_at,
    evaluate,
    is_better,
    lift_table,
    recall_at_fpr,
)

# Ten rows, positives ranked 1st and 3rd.
Y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


def test_metrics_of_a_tiny_split_match_hand_computation():
    evaluation = evaluate(Y, S, threshold=0.65)
    assert evaluation.pr_auc == pytest.approx((1 + 2 / 3) / 2)  # precision at each positive's rank
    assert evaluation.roc_auc == pytest.approx(15 / 16)  # 15 of 16 (pos, neg) pairs ordered right
    assert (evaluation.confusion.tn, evaluation.confusion.fp, evaluation.confusion.fn, evaluation.confusion.tp) == (
        7, 1, 0, 2,
    )
    assert evaluation.precision == pytest.approx(2 / 3)
    assert evaluation.recall == 1.0
    assert evaluation.f1 == pytest.approx(0.8)
    # 8 negatives: a single false positive is already 12.5 % FPR, so only the top row may be flagged
    assert evaluation.recall_at_1pct_fpr == 0.5
    assert (evaluation.n_rows, evaluation.n_positives) == (10, 2)


def test_threshold_is_inclusive_and_nothing_flagged_gives_zero_precision():
    assert confusion_at(Y, S, 0.7).tp == 2  # score == threshold is flagged
    evaluation = evaluate(Y, S, threshold=0.95)
    assert (evaluation.precision, evaluation.recall, evaluation.f1) == (0.0, 0.0, 0.0)


def test_recall_at_1pct_fpr_allows_two_false_positives_in_two_hundred_and_flags_ties_together():
    positives = [0.99, 0.97, 0.92, 0.80, 0.80, 0.70, 0.50, 0.30, 0.20, 0.10]
    y = np.array([1] * 10 + [0] * 200)
    allowed = np.array(positives + [0.95, 0.90, 0.75] + [0.05] * 197)
    # flag >= 0.80: 5 positives, 2 negatives -> FPR 1.0 %, recall 0.5; >= 0.75 would be 1.5 %
    assert recall_at_fpr(y, allowed) == 0.5
    tied = np.array(positives + [0.95, 0.90, 0.80] + [0.05] * 197)
    # a negative tied at 0.80 is flagged with the two positives there: 3 FP, so stop at 0.90
    assert recall_at_fpr(y, tied) == 0.3


def test_confusion_matrix_agrees_with_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    scores = rng.random(500)
    ours = confusion_at(y, scores, 0.3).as_array()
    np.testing.assert_array_equal(ours, confusion_matrix(y, scores >= 0.3, labels=[0, 1]))


def test_lift_table_by_decile_matches_hand_computation():
    rows = lift_table(Y, S)
    assert [r.n_positives for r in rows] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert rows[0].lift == pytest.approx(5.0)  # rate 1.0 against an overall rate of 0.2
    assert rows[1].cumulative_lift == pytest.approx(2.5)  # 1 in 2 rows / 0.2
    assert rows[2].cumulative_gain == 1.0 and rows[2].cumulative_lift == pytest.approx((2 / 3) / 0.2)
    assert rows[-1].cumulative_gain == 1.0 and rows[-1].cumulative_lift == pytest.approx(1.0)


def test_lift_groups_differ_by_at_most_one_row_and_ties_keep_input_order():
    rows = lift_table(np.array([1] + [0] * 12), np.full(13, 0.5))
    assert [r.n_rows for r in rows] == [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert rows[0].n_positives == 1  # all scores tie: the first row stays first
    assert len(lift_table(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1]))) == 3  # fewer rows than deciles


def test_evaluation_round_trips_through_json():
    evaluation = evaluate(Y, S, threshold=0.5, name="xgboost")
    restored = Evaluation.from_dict(json.loads(json.dumps(evaluation.to_dict())))
    assert restored == evaluation
    assert restored.lift_table()["decile"].tolist() == list(range(1, 11))
    assert set(evaluation.metrics()) >= {"pr_auc", "roc_auc", "recall_at_1pct_fpr", "tp", "fp"}


@pytest.mark.parametrize(
    ("y", "scores", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "must be 0 or 1"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "first at position 1"),
        ([0, 1, 0], [0.1, 1.5, 0.3], "not probabilities"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "needs both classes"),
        ([0, 1], [0.1, 0.2, 0.3], "2 labels but 3 scores"),
    ],
)
def test_bad_labels_or_scores_are_refused_with_a_clear_message(y, scores, message):
    with pytest.raises(ValueError, match=message):
        evaluate(np.array(y), np.array(scores), threshold=0.5)


def _scored(scores, name):
    return evaluate(Y, np.array(scores), threshold=0.5, name=name)


def test_candidate_must_beat_reference_by_more_than_the_tolerance():
    good = _scored(S, "candidate")
    worse = _scored([0.9, 0.8, 0.3, 0.6, 0.5, 0.4, 0.7, 0.2, 0.1, 0.05], "champion")
    verdict = compare(good, worse)
    assert verdict.better and "candidate beats champion" in verdict.reason
    assert not is_better(worse, good)
    assert not is_better(good, good)  # a tie keeps the incumbent
    assert not is_better(good, worse, tolerance=1.0)


def test_evaluations_of_different_splits_cannot_be_compared():
    other = evaluate(np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0]), S, threshold=0.5, name="champion")
    with pytest.raises(ValueError, match="different splits"):
        compare(_scored(S, "candidate"), other)
