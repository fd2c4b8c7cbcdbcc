"""XGBoost training: imbalance weight, early stopping, determinism, threshold choice, input checks,
and the model beating the logistic baseline where the signal is an interaction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.training.baseline import train_baseline
from fraud_pipelines.training.evaluation import compare, evaluate
from fraud_pipelines.training.model import TrainingParams, choose_threshold, train_model

from .conftest import FAST_PARAMS


def test_xgboost_beats_the_logistic_baseline_on_an_interaction_signal(splits, trained):
    baseline = train_baseline(splits.X_train, splits.y_train)
    model_eval = evaluate(
        splits.y_test, trained.predict_proba(splits.X_test), threshold=trained.threshold, name="xgboost"
    )
    baseline_eval = evaluate(splits.y_test, baseline.predict_proba(splits.X_test), threshold=0.5, name="baseline")
    verdict = compare(model_eval, baseline_eval)
    assert verdict.better, verdict.reason
    assert model_eval.pr_auc > 0.6 and baseline_eval.pr_auc < 0.1  # the line cannot see x0 * x1
    assert model_eval.recall_at_1pct_fpr > 0.5
    top_two = set(trained.feature_importance().index[:2])
    assert top_two == {"x0", "x1"}


def test_positive_class_weight_is_negatives_over_positives_of_the_train_labels(splits, trained):
    positives = int(splits.y_train.sum())
    assert 0.01 < positives / len(splits.y_train) < 0.025  # the fixture really is imbalanced
    assert trained.scale_pos_weight == pytest.approx((len(splits.y_train) - positives) / positives)
    assert trained.classifier.get_params()["scale_pos_weight"] == pytest.approx(trained.scale_pos_weight)
    assert (trained.n_train_rows, trained.n_train_positives) == (len(splits.y_train), positives)


@pytest.mark.parametrize("power", [0.0, 0.5])
def test_imbalance_power_sets_the_class_weight_the_trees_train_with(splits, trained, power):
    positives = int(splits.y_train.sum())
    ratio = (len(splits.y_train) - positives) / positives
    params = replace(FAST_PARAMS, imbalance_power=power, max_delta_step=2.0, gamma=0.5, calibration="none")
    weighted = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, params)
    assert weighted.scale_pos_weight == pytest.approx(ratio**power)  # 0: unweighted, 0.5: the square root
    fitted = weighted.classifier.get_params()
    assert (fitted["scale_pos_weight"], fitted["max_delta_step"], fitted["gamma"]) == (
        pytest.approx(ratio**power), 2.0, 0.5)
    assert not np.allclose(weighted.raw_proba(splits.X_test), trained.raw_proba(splits.X_test))
    fixed = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                        replace(params, scale_pos_weight=3.0))  # a fixed weight wins over the power
    assert fixed.scale_pos_weight == 3.0 == fixed.classifier.get_params()["scale_pos_weight"]


@pytest.mark.parametrize("field, value", [("imbalance_power", -0.5), ("max_delta_step", -1.0), ("gamma", -0.1),
                                          ("scale_pos_weight", 0.0)])
def test_negative_weights_and_steps_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        replace(FAST_PARAMS, **{field: value})


def test_early_stopping_keeps_the_best_validation_iteration_for_scoring(splits, trained):
    booster = trained.classifier.get_booster()
    rounds = booster.num_boosted_rounds()
    assert trained.best_iteration < FAST_PARAMS.n_estimators - 1
    assert rounds == trained.best_iteration + FAST_PARAMS.early_stopping_rounds + 1
    best_only = trained.classifier.predict_proba(splits.X_test, iteration_range=(0, trained.best_iteration + 1))[:, 1]
    np.testing.assert_array_equal(trained.raw_proba(splits.X_test), best_only)
    np.testing.assert_array_equal(trained.predict_proba(splits.X_test), trained.calibrator.transform(best_only))


def test_training_is_deterministic_for_a_seed_and_thread_count_independent(splits, trained):
    again = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, replace(FAST_PARAMS, n_jobs=2))
    np.testing.assert_array_equal(again.predict_proba(splits.X_test), trained.predict_proba(splits.X_test))
    assert again.threshold == trained.threshold


def test_threshold_is_chosen_on_the_validation_split(splits, trained):
    val_scores = trained.predict_proba(splits.X_val)
    assert trained.threshold == choose_threshold(splits.y_val, val_scores)
    strict = train_model(
        splits.X_train, splits.y_train, splits.X_val, splits.y_val,
        replace(FAST_PARAMS, threshold_rule="target_precision", target_precision=0.95),
    )
    flagged = val_scores >= strict.threshold
    assert splits.y_val[flagged].mean() >= 0.95


def test_choose_threshold_rules_on_hand_worked_examples():
    y, scores = [1, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5]
    assert choose_threshold(y, scores) == 0.7  # F1 0.8 (precision 2/3, recall 1)
    assert choose_threshold(y, scores, rule="target_precision", target_precision=0.6) == 0.7
    assert choose_threshold(y, scores, rule="target_precision", target_precision=0.9) == 0.9
    # no threshold reaches precision 0.9 here: fall back to max F1 (0.6: precision 1/2, recall 1)
    assert choose_threshold([0, 1, 0, 1], [0.9, 0.8, 0.7, 0.6], rule="target_precision", target_precision=0.9) == 0.6
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(y, scores, rule="youden")


def test_scoring_selects_training_columns_by_name_and_names_missing_ones(splits, trained):
    shuffled = splits.X_test[list(reversed(splits.X_test.columns))].assign(cc_num=1)
    np.testing.assert_array_equal(trained.predict_proba(shuffled), trained.predict_proba(splits.X_test))
    with pytest.raises(ValueError, match=r"missing columns the model was trained on: \['noise'\]"):
        trained.predict_proba(splits.X_test.drop(columns="noise"))


def _small(splits, n=600):
    return splits.X_train.head(n), splits.y_train[:n], splits.X_val.head(n), splits.y_val[:n]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda X, y, Xv, yv: (X.assign(category=X["category"].astype(str)), y, Xv, yv),
            r"non-numeric columns \['category \(object\)'\]",
        ),
        (
            lambda X, y, Xv, yv: (X, y, Xv.drop(columns="noise"), yv),
            "X_val columns differ from X_train: missing \\['noise'\\]",
        ),
        (lambda X, y, Xv, yv: (X, np.zeros_like(y), Xv, yv), "y_train: the split needs both classes"),
        (lambda X, y, Xv, yv: (X, y[:-1], Xv, yv), "X_train has 600 rows but y_train has 599"),
        (lambda X, y, Xv, yv: (X.assign(x0=np.inf), y, Xv, yv), r"infinite values in columns \['x0'\]"),
        (lambda X, y, Xv, yv: (X.to_numpy(), y, Xv, yv), "must be a pandas DataFrame"),
    ],
)
def test_bad_training_input_is_refused_with_a_clear_message(splits, mutate, message):
    with pytest.raises((ValueError, TypeError), match=message):
        train_model(*mutate(*_small(splits)), FAST_PARAMS)


def test_params_refuse_unknown_threshold_rules():
    with pytest.raises(ValueError, match="threshold_rule"):
        TrainingParams(threshold_rule="youden")  # type: ignore[arg-type]
    assert TrainingParams(seed=3).to_dict()["seed"] == 3  # every field reaches the MLflow params


def test_baseline_handles_missing_values_and_returns_one_probability_per_row(splits):
    baseline = train_baseline(splits.X_train, splits.y_train)
    X = splits.X_test.copy()
    X.loc[:10, "amount_scaled"] = np.nan
    scores = baseline.predict_proba(X)
    assert scores.shape == (len(X),) and np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()
    with pytest.raises(ValueError, match="non-numeric"):
        train_baseline(splits.X_train.assign(category="a"), splits.y_train)
    assert isinstance(baseline.feature_names, tuple) and baseline.feature_names == tuple(
        pd.Index(splits.X_train.columns)
    )
