"""Learning curve on growing shares of the training rows (validation only) and the lift/gain plot."""

from __future__ import annotations

import pytest

from fraud_pipelines.training.curves import learning_curve, plot_learning_curve, plot_lift_gain
from fraud_pipelines.training.evaluation import evaluate
from fraud_pipelines.training.model import TrainingParams

PARAMS = TrainingParams(n_jobs=1, seed=7, n_estimators=200, early_stopping_rounds=20)


def test_learning_curve_grows_with_the_rows_and_ends_with_the_full_model(splits, tmp_path):
    curve = learning_curve(splits.X_train, splits.y_train, splits.X_val, splits.y_val, PARAMS,
                           shares=(0.05, 0.5), seed=0, full=(0.99, 0.9))
    assert list(curve["share"]) == [0.05, 0.5, 1.0]
    assert list(curve["rows"]) == [200, 2_000, 4_000]
    assert curve["frauds"].is_monotonic_increasing
    # 200 rows hold a handful of frauds: the interaction is learnt far better from 2,000
    assert curve["validation_pr_auc"].iloc[1] > curve["validation_pr_auc"].iloc[0] + 0.1
    assert curve.iloc[-1][["train_pr_auc", "validation_pr_auc"]].tolist() == [0.99, 0.9]
    again = learning_curve(splits.X_train, splits.y_train, splits.X_val, splits.y_val, PARAMS,
                           shares=(0.05, 0.5), seed=0)
    assert again.equals(curve.iloc[:2])
    path = plot_learning_curve(curve, tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_curve_refuses_shares_outside_zero_one(splits):
    with pytest.raises(ValueError, match="shares"):
        learning_curve(splits.X_train, splits.y_train, splits.X_val, splits.y_val, PARAMS, shares=(1.0,))


def test_lift_gain_plot(splits, trained, tmp_path):
    evaluation = evaluate(splits.y_test, trained.predict_proba(splits.X_test), threshold=trained.threshold)
    path = plot_lift_gain(evaluation.lift_table(), tmp_path / "lift.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
