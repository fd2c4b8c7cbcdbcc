"""Training on large splits: every fraud and a weighted sample of the genuine charges beyond `max_train_rows`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from xgboost import XGBClassifier

from fraud_pipelines.training.model import TrainingParams, make_classifier, train_model
from fraud_pipelines.training.sampling import describe, weighted_sample

from .conftest import FAST_PARAMS, make_rows


def _labels(n: int, positives: int, seed: int = 0) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int8)
    labels[np.random.default_rng(seed).choice(n, positives, replace=False)] = 1
    return labels


def test_every_fraud_is_kept_and_the_weighted_genuine_charges_add_up_to_the_split():
    labels = _labels(10_000, 150)
    rows = weighted_sample(labels, 2_000, seed=3)
    assert rows.sampled and rows.n_rows == len(rows.rows) == 2_000
    assert np.all(np.diff(rows.rows) > 0)  # in the split's order, no row twice
    picked = labels[rows.rows]
    assert picked.sum() == 150  # every fraud
    assert np.all(rows.weights[picked == 1] == 1.0)
    genuine_weights = rows.weights[picked == 0]
    assert len(genuine_weights) == 1_850 and np.allclose(genuine_weights, 9_850 / 1_850)
    assert genuine_weights.sum() == pytest.approx(9_850)  # the loss weighs the genuine charges as the whole split
    assert rows.negative_rate == pytest.approx(1_850 / 9_850)


def test_the_draw_is_seeded_and_uniform_over_the_genuine_charges():
    labels = _labels(20_000, 100)
    first, again, other = (weighted_sample(labels, 5_000, seed=s) for s in (1, 1, 2))
    assert np.array_equal(first.rows, again.rows) and not np.array_equal(first.rows, other.rows)
    counts = np.zeros(len(labels))
    for seed in range(40):
        counts[weighted_sample(labels, 5_000, seed=seed).rows] += 1
    genuine = counts[labels == 0] / 40
    # each genuine charge is drawn with probability 4,900 / 19,900 (~0.246); halves of the split alike
    assert genuine.mean() == pytest.approx(4_900 / 19_900)
    assert abs(genuine[: len(genuine) // 2].mean() - genuine[len(genuine) // 2:].mean()) < 0.01


def test_no_sample_within_the_budget_or_without_one():
    labels = _labels(1_000, 20)
    for budget in (0, 1_000, 5_000):
        rows = weighted_sample(labels, budget, seed=0)
        assert not rows.sampled and rows.weights is None and rows.n_rows == 1_000 and rows.negative_rate == 1.0
    with pytest.raises(ValueError, match="row budget"):
        weighted_sample(labels, -1, seed=0)
    with pytest.raises(ValueError, match="max_train_rows"):
        TrainingParams(max_train_rows=-5)


def test_a_budget_below_the_frauds_still_keeps_as_many_genuine_charges():
    labels = _labels(10_000, 400)
    rows = weighted_sample(labels, 500, seed=0)
    assert labels[rows.rows].sum() == 400 and (labels[rows.rows] == 0).sum() == 400


def test_the_trees_are_those_of_the_weighted_sample(splits):
    params = replace(FAST_PARAMS, max_train_rows=1_500, calibration="none")
    trained = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, params)
    assert trained.summary()["n_fitted_rows"] == 1_500 and trained.n_train_rows == len(splits.y_train)
    # the class weight is the whole split's: the sampled genuine charges carry the rest of the weight
    positives = int(splits.y_train.sum())
    assert trained.scale_pos_weight == pytest.approx((len(splits.y_train) - positives) / positives)
    rows = weighted_sample(splits.y_train, 1_500, params.seed)
    by_hand = make_classifier(params, trained.scale_pos_weight)
    by_hand.fit(splits.X_train.iloc[rows.rows], splits.y_train[rows.rows], sample_weight=rows.weights,
                eval_set=[(splits.X_val, splits.y_val)], verbose=False)
    assert by_hand.get_booster().save_raw() == trained.classifier.get_booster().save_raw()
    assert trained.best_iteration == by_hand.best_iteration
    unweighted = make_classifier(params, trained.scale_pos_weight)
    unweighted.fit(splits.X_train.iloc[rows.rows], splits.y_train[rows.rows],
                   eval_set=[(splits.X_val, splits.y_val)], verbose=False)
    assert unweighted.get_booster().save_raw() != trained.classifier.get_booster().save_raw()


def test_a_weighted_sample_ranks_and_scores_like_every_row():
    """A tenth of the genuine charges, weighted, early stopping on a third of validation: the same test PR-AUC within
    0.02, and the scores' level kept (unweighted, the frauds' share in the sample would inflate every score several
    times over)."""
    X_train, y_train = make_rows(60_000, 11)
    X_val, y_val = make_rows(10_000, 12)
    X_test, y_test = make_rows(20_000, 13)
    params = TrainingParams(n_jobs=1, seed=5, calibration="none", n_estimators=300, max_train_rows=0,
                            max_stopping_rows=0)
    every = train_model(X_train, y_train, X_val, y_val, params)
    sampled = train_model(X_train, y_train, X_val, y_val,
                          replace(params, max_train_rows=7_000, max_stopping_rows=3_000))
    rows = weighted_sample(y_train, 7_000, params.seed)
    assert sampled.summary()["n_fitted_rows"] == 7_000 and rows.negative_rate < 0.12
    full_scores, sample_scores = every.raw_proba(X_test), sampled.raw_proba(X_test)
    assert abs(average_precision_score(y_test, sample_scores) - average_precision_score(y_test, full_scores)) < 0.02
    plain = XGBClassifier(**sampled.classifier.get_params())
    plain.fit(X_train.iloc[rows.rows], y_train[rows.rows], eval_set=[(X_val, y_val)], verbose=False)
    level = np.median(full_scores)
    assert abs(np.median(sample_scores) - level) < abs(np.median(plain.predict_proba(X_test)[:, 1]) - level) / 3


def test_the_search_fits_the_same_sample_so_its_chosen_trees_are_the_models(splits):
    """fraud_model loads the search's chosen trees instead of fitting them again: both must draw the same rows."""
    from fraud_pipelines.training.tuning import TuningBudget, tune

    base = replace(FAST_PARAMS, max_train_rows=1_500, max_stopping_rows=700, calibration="none", n_estimators=60)
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base,
                  TuningBudget(n_trials=1, seed=3, n_startup_trials=1))
    chosen_params, chosen = result.chosen_model
    assert result.chosen_trial == 0 and chosen_params.tree_params() == base.tree_params()
    trained = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base)
    assert chosen.get_booster().save_raw() == trained.classifier.get_booster().save_raw()


def test_early_stopping_reads_a_weighted_sample_of_validation_and_everything_else_every_row(splits):
    params = replace(FAST_PARAMS, max_stopping_rows=600, calibration="none", n_estimators=200,
                     early_stopping_rounds=10)
    trained = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, params)
    stop = weighted_sample(splits.y_val, 600, params.seed)
    assert stop.sampled and stop.n_rows == 600 and splits.y_val[stop.rows].sum() == splits.y_val.sum()
    weighted = trained.classifier.evals_result()["validation_0"]["aucpr"]
    by_hand = make_classifier(params, trained.scale_pos_weight)
    by_hand.fit(splits.X_train, splits.y_train, eval_set=[(splits.X_val.iloc[stop.rows], splits.y_val[stop.rows])],
                sample_weight_eval_set=[stop.weights], verbose=False)
    assert by_hand.get_booster().save_raw() == trained.classifier.get_booster().save_raw()
    assert weighted == by_hand.evals_result()["validation_0"]["aucpr"]
    # the weights count: the same rows unweighted give another curve
    plain = make_classifier(params, trained.scale_pos_weight)
    plain.fit(splits.X_train, splits.y_train, eval_set=[(splits.X_val.iloc[stop.rows], splits.y_val[stop.rows])],
              verbose=False)
    assert plain.evals_result()["validation_0"]["aucpr"] != weighted
    # what the model reports is measured on every validation row
    every = average_precision_score(splits.y_val, trained.raw_proba(splits.X_val))
    assert trained.validation_pr_auc == pytest.approx(every)


def test_the_metadata_says_which_rows_were_fitted():
    assert describe(5_000, 100, 5_000) == "every train row (5,000, 100 frauds)"
    assert describe(10_000, 150, 2_000) == ("2,000 of 10,000 train rows: every fraud (150) and 1,850 genuine charges "
                                            "drawn at random (18.8%), each weighted 5.32")


@pytest.mark.parametrize("changes", [{"imbalance_power": 0.5}, {"imbalance_power": 0.7, "max_train_rows": 1_500}])
def test_the_models_it_trains_keep_the_fast_scoring_and_reason_paths(splits, changes):
    """A class weight other than the imbalance (the search tries powers of it, on a sample or every row) leaves
    XGBoost estimating a base score other than 0.5. Batch scoring's Saabas table and the service's tree walk
    still reproduce such a model bit for bit, so neither falls back to XGBoost's slower calls."""
    import json

    from fraud_pipelines.governance.reasons import Explainer
    from fraud_pipelines.serving.trees import RowPredictor

    trained = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                          replace(FAST_PARAMS, calibration="none", **changes))
    booster = trained.classifier.get_booster()
    base_score = json.loads(booster.save_config())["learner"]["learner_model_param"]["base_score"]
    assert float(base_score.strip("[]")) != 0.5
    explainer = Explainer.from_classifier(trained.classifier, list(splits.X_train.columns))
    assert explainer.saabas is not None  # checked against XGBoost bit for bit when built
    predictor = RowPredictor(booster, splits.X_train.shape[1], explainer.iteration_range, explainer.missing)
    assert (predictor.path, predictor.contributions_path) == ("flat trees", "flat trees")
    rows = splits.X_val.to_numpy(dtype=np.float64, na_value=np.nan)[:50]
    contributions, probabilities = explainer.saabas.predict(rows)
    assert np.array_equal(probabilities, trained.classifier.predict_proba(rows)[:, 1])
    assert all(predictor.predict_row(row.tolist()) == p for row, p in zip(rows, probabilities.tolist()))
    assert np.array_equal(predictor.contributions(rows[:1])[0], contributions[0])
