"""The numpy walk of XGBoost's trees gives XGBoost's own float32 probabilities, bit for bit, and
refuses the models it does not reproduce (the service then uses XGBoost itself)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from fraud_pipelines.serving.flat_trees import FlatTrees, Unsupported
from fraud_pipelines.serving.trees import RowPredictor
from tests.tree_data import tree_data as _data


def _rows(trees: FlatTrees, x: np.ndarray, seed: int) -> np.ndarray:
    """Held-out rows, rows far outside the training range, and rows exactly on the split thresholds."""
    rng = np.random.default_rng(seed)
    far = rng.normal(0.0, 1e4, size=(200, x.shape[1]))
    on = np.full((200, x.shape[1]), np.nan)
    for feature, values in trees.thresholds.items():
        if len(values):
            on[:, feature] = rng.choice(values, size=200)
    return np.concatenate([x[:500], far, on])


@pytest.mark.parametrize("params", [
    {"n_estimators": 60, "max_depth": 6},
    {"n_estimators": 150, "max_depth": 11, "scale_pos_weight": 9.0},
    {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.5, "early_stopping_rounds": 5},
    {"n_estimators": 60, "max_depth": 6, "base_score": None},  # XGBoost's estimate from the labels (its default)
    {"n_estimators": 40, "max_depth": 4, "base_score": 0.03, "scale_pos_weight": 9.0},
])
def test_the_walk_gives_xgboosts_probabilities_bit_for_bit(params):
    x, y = _data(7)
    fit = {"eval_set": [(x[2_000:], y[2_000:])], "verbose": False} if "early_stopping_rounds" in params else {}
    model = xgb.XGBClassifier(**{"base_score": 0.5, **params}, n_jobs=1, random_state=0)
    model.fit(x[:2_000], y[:2_000], **fit)
    rounds = (0, model.best_iteration + 1) if "early_stopping_rounds" in params else (0, 0)
    booster = model.get_booster()
    trees = FlatTrees(booster, x.shape[1], rounds, float("nan"))
    rows = _rows(trees, x[2_000:], 3)
    expected = booster.inplace_predict(rows, iteration_range=rounds, missing=np.nan, validate_features=False)
    got = np.array([trees.predict_one(row.tolist()) for row in rows], dtype=np.float32)
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))
    assert np.array_equal(got, model.predict_proba(rows)[:, 1].astype(np.float32))


@pytest.mark.parametrize("params", [
    {"n_estimators": 60, "max_depth": 6},
    {"n_estimators": 150, "max_depth": 11, "scale_pos_weight": 9.0, "min_child_weight": 0.5},
    {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.5, "early_stopping_rounds": 5},
    {"n_estimators": 60, "max_depth": 6, "base_score": None},  # XGBoost's estimate from the labels (its default)
    {"n_estimators": 40, "max_depth": 4, "base_score": 0.03, "scale_pos_weight": 9.0},
])
def test_the_walks_saabas_contributions_are_xgboosts_approx_contribs_bit_for_bit(params):
    x, y = _data(9)
    fit = {"eval_set": [(x[2_000:], y[2_000:])], "verbose": False} if "early_stopping_rounds" in params else {}
    model = xgb.XGBClassifier(**{"base_score": 0.5, **params}, n_jobs=1, random_state=0)
    model.fit(x[:2_000], y[:2_000], **fit)
    rounds = (0, model.best_iteration + 1) if "early_stopping_rounds" in params else (0, 0)
    booster = model.get_booster()
    trees = FlatTrees(booster, x.shape[1], rounds, float("nan"))
    rows = _rows(trees, x[2_000:], 4)
    expected = booster.predict(xgb.DMatrix(rows, missing=np.nan), pred_contribs=True, approx_contribs=True,
                               iteration_range=rounds, validate_features=False)
    got = np.array([trees.contributions_one(row) for row in rows])
    assert got.dtype == np.float32 and got.shape == expected.shape == (len(rows), x.shape[1] + 1)
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))
    assert np.count_nonzero(got[:, :-1]) > len(rows)  # the paths credit features, not only the bias
    predictor = RowPredictor(booster, x.shape[1], rounds, float("nan"))
    assert predictor.contributions_path == "flat trees"
    assert np.array_equal(predictor.contributions(rows[:1]), expected[:1])
    several = predictor.contributions(rows[:7])  # several rows (/predict/batch): the Saabas table's one prediction
    assert predictor._saabas  # the table, not approx_contribs, gave them
    assert np.array_equal(several.view(np.int32), expected[:7].view(np.int32))


def test_the_service_uses_the_walk_and_falls_back_to_xgboost_where_it_cannot():
    x, y = _data(8)
    binary = xgb.XGBClassifier(n_estimators=20, max_depth=4, base_score=0.5, n_jobs=1).fit(x, y)
    predictor = RowPredictor(binary.get_booster(), x.shape[1], (0, 0), float("nan"))
    assert predictor.path == "flat trees"
    assert predictor.predict([x[0].tolist()])[0] == binary.predict_proba(x[:1])[0, 1]

    three = xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(x, np.nan_to_num(x[:, 0]).astype(int) % 3)
    with pytest.raises(Unsupported, match="objective multi:softprob"):
        FlatTrees(three.get_booster(), x.shape[1], (0, 0), float("nan"))
    averaged = xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(x, y)  # base score from the labels
    walked = RowPredictor(averaged.get_booster(), x.shape[1], (0, 0), float("nan"))
    assert (walked.path, walked.contributions_path) == ("flat trees", "flat trees")
    with pytest.raises(Unsupported, match="missing"):
        FlatTrees(binary.get_booster(), x.shape[1], (0, 0), 0.0)
    zero_missing = RowPredictor(binary.get_booster(), x.shape[1], (0, 0), 0.0)
    assert (zero_missing.path, zero_missing.contributions_path) == ("prepared C call", "approx_contribs")
    expected = binary.get_booster().predict(xgb.DMatrix(x[:1], missing=0.0), pred_contribs=True,
                                            approx_contribs=True, validate_features=False)
    assert np.array_equal(zero_missing.contributions(x[:1]), expected)
    row = np.where(np.isnan(x[:5]), 0.0, x[:5])
    expected = binary.get_booster().inplace_predict(row, missing=0.0, validate_features=False)
    assert np.array_equal(np.array([zero_missing.predict([r.tolist()])[0] for r in row]), expected)


@pytest.mark.parametrize("params", [
    {"n_estimators": 60, "max_depth": 6},
    {"n_estimators": 150, "max_depth": 11, "scale_pos_weight": 9.0},
    {"n_estimators": 60, "max_depth": 6, "base_score": None},
])
def test_a_micro_batch_walk_gives_each_row_the_one_row_walks_bits(params):
    x, y = _data(11)
    model = xgb.XGBClassifier(**{"base_score": 0.5, **params}, n_jobs=1, random_state=0).fit(x[:2_000], y[:2_000])
    booster = model.get_booster()
    trees = FlatTrees(booster, x.shape[1], (0, 0), float("nan"))
    rows = _rows(trees, x[2_000:], 5)
    one = np.array([trees.predict_one(row.tolist()) for row in rows], dtype=np.float32)
    for size in (2, 7, 64):
        got = np.concatenate([trees.predict_many(rows[i:i + size]) for i in range(0, len(rows), size)])
        assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), one.view(np.int32))
    predictor = RowPredictor(booster, x.shape[1], (0, 0), float("nan"))
    assert predictor.path == "flat trees" and predictor._many is not None
    expected = booster.inplace_predict(rows[:40], missing=np.nan, validate_features=False)
    assert np.array_equal(predictor.predict(rows[:40].tolist()).view(np.int32), expected.view(np.int32))
