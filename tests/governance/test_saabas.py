"""Saabas contributions from the table of the trees' nodes: XGBoost's vector-leaf copy of the trees
gives `approx_contribs`, the margin and `predict_proba` bit for bit, each row the same alone or among
others; the service's one-row walk adds the same table rows and gets the same bits; a booster the
table does not reproduce is refused and reason codes fall back to XGBoost's own call."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb

from fraud_pipelines.governance.reasons import Explainer
from fraud_pipelines.governance.saabas import SaabasTrees, Unsupported, check_rows, path_contributions
from fraud_pipelines.serving.flat_trees import FlatTrees
from tests.tree_data import tree_data as _data


def _model(params: dict, seed: int = 9) -> tuple[xgb.XGBClassifier, tuple[int, int], np.ndarray]:
    x, y = _data(seed)
    fit = {"eval_set": [(x[2_000:], y[2_000:])], "verbose": False} if "early_stopping_rounds" in params else {}
    model = xgb.XGBClassifier(**{"base_score": 0.5, **params}, n_jobs=1, random_state=0).fit(x[:2_000], y[:2_000],
                                                                                              **fit)
    rounds = (0, model.best_iteration + 1) if "early_stopping_rounds" in params else (0, 0)
    rng = np.random.default_rng(seed)
    trees = json.loads(model.get_booster().save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    thresholds = check_rows(trees, x.shape[1], 300)
    rows = np.concatenate([x[2_000:], rng.normal(0.0, 1e4, size=(300, x.shape[1])), thresholds])
    return model, rounds, rows


PARAMS = [
    {"n_estimators": 60, "max_depth": 6},
    {"n_estimators": 150, "max_depth": 11, "scale_pos_weight": 9.0, "min_child_weight": 0.5},
    {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.5, "early_stopping_rounds": 5},
    # base scores other than 0.5: XGBoost's estimate from the labels (its default), and one given
    {"n_estimators": 60, "max_depth": 6, "base_score": None},
    {"n_estimators": 40, "max_depth": 4, "base_score": 0.03, "scale_pos_weight": 9.0, "early_stopping_rounds": 5},
]


@pytest.mark.parametrize("params", PARAMS)
def test_the_vector_leaf_trees_give_approx_contribs_and_probabilities_bit_for_bit(params):
    model, rounds, rows = _model(params)
    booster = model.get_booster()
    saabas = SaabasTrees(booster, rows.shape[1], rounds, float("nan"))
    contributions, probabilities = saabas.predict(rows)
    expected = booster.predict(xgb.DMatrix(rows, missing=np.nan), pred_contribs=True, approx_contribs=True,
                               iteration_range=rounds, validate_features=False)
    assert contributions.dtype == np.float32 and contributions.shape == expected.shape == (len(rows), 7)
    assert np.array_equal(contributions.view(np.int32), expected.view(np.int32))
    assert np.count_nonzero(contributions[:, :-1]) > len(rows)  # the paths credit features, not only the bias
    raw = model.predict_proba(rows)[:, 1]
    assert probabilities.dtype == raw.dtype == np.float32 and np.array_equal(probabilities.view(np.int32),
                                                                             raw.view(np.int32))
    if rounds != (0, 0):  # only the early-stopped trees, as predict_proba
        assert saabas.n_trees == rounds[1] < booster.num_boosted_rounds()


@pytest.mark.parametrize("params", PARAMS[:2])
def test_each_rows_contributions_are_the_same_alone_among_others_and_in_the_service_walk(params):
    """One table, two sums: XGBoost's over many rows, the service walk's over one; a row's bits never
    depend on the rows scored with it."""
    model, rounds, rows = _model(params, seed=4)
    booster = model.get_booster()
    saabas = SaabasTrees(booster, rows.shape[1], rounds, float("nan"))
    together = saabas.contributions(rows)
    shuffled = np.random.default_rng(1).permutation(len(rows))
    assert np.array_equal(saabas.contributions(rows[shuffled]), together[shuffled])
    walk = FlatTrees(booster, rows.shape[1], rounds, float("nan"))
    for i in range(0, len(rows), 37):
        alone = saabas.contributions(rows[i:i + 1])
        assert np.array_equal(alone[0].view(np.int32), together[i].view(np.int32))
        assert np.array_equal(walk.contributions_one(rows[i]).view(np.int32), together[i].view(np.int32))


def test_contributions_and_bias_sum_to_the_margin():
    """Float32 sums of 243 tree vectors (contributions) against XGBoost's own float32 sum (the margin):
    equal within 1e-5 relative to the summed magnitudes, the rounding of float32 additions."""
    model, rounds, rows = _model(PARAMS[1])
    contributions = SaabasTrees(model.get_booster(), rows.shape[1], rounds, float("nan")).contributions(rows)
    margins = model.predict(rows, output_margin=True)
    scale = np.abs(contributions).sum(axis=1) + 1.0
    assert np.all(np.abs(contributions.astype(np.float64).sum(axis=1) - margins) <= 1e-5 * scale)


def test_the_path_table_credits_each_split_with_the_change_of_the_mean():
    """A depth-2 tree by hand: root on f1, then f0 on the left; hessian-weighted node means."""
    tree = {"left_children": [1, 3, -1, -1, -1], "right_children": [2, 4, -1, -1, -1],
            "split_indices": [1, 0, 0, 0, 0], "split_conditions": [0.5, 2.0, 3.0, -1.0, 1.0],
            "sum_hessian": [4.0, 3.0, 1.0, 1.0, 2.0]}
    table = path_contributions(tree, 2)
    left_mean = (-1.0 * 1 + 1.0 * 2) / 3  # node 1
    root_mean = (left_mean * 3 + 3.0 * 1) / 4
    expected = np.array([
        [0.0, 0.0, root_mean],
        [0.0, left_mean - root_mean, root_mean],
        [0.0, 3.0 - root_mean, root_mean],
        [-1.0 - left_mean, left_mean - root_mean, root_mean],
        [1.0 - left_mean, left_mean - root_mean, root_mean],
    ])
    np.testing.assert_allclose(table, expected, rtol=1e-6)
    assert table.dtype == np.float32
    np.testing.assert_allclose(table[3:].sum(axis=1), [-1.0, 1.0], rtol=1e-6)  # a leaf's row sums to its value


def test_a_booster_the_table_does_not_reproduce_is_refused_and_reasons_use_xgboost():
    x, y = _data(5)
    model = xgb.XGBClassifier(n_estimators=10, max_depth=4, num_parallel_tree=2, n_jobs=1).fit(x, y)
    with pytest.raises(Unsupported, match="one tree a round"):
        SaabasTrees(model.get_booster(), x.shape[1], (0, 0), float("nan"))
    explainer = Explainer(model.get_booster(), tuple(f"f{i}" for i in range(x.shape[1])), (0, 0), float("nan"))
    assert explainer.saabas is None
    expected = model.get_booster().predict(xgb.DMatrix(x[:50], missing=np.nan), pred_contribs=True,
                                           approx_contribs=True)
    assert np.array_equal(explainer.contributions(x[:50]), expected)
    regressor = xgb.XGBRegressor(n_estimators=5, max_depth=3).fit(x, y)
    with pytest.raises(Unsupported, match="objective"):
        SaabasTrees(regressor.get_booster(), x.shape[1], (0, 0), float("nan"))


def test_rows_of_the_wrong_width_are_refused():
    model, rounds, rows = _model(PARAMS[0])
    saabas = SaabasTrees(model.get_booster(), rows.shape[1], rounds, float("nan"))
    with pytest.raises(ValueError, match="expected rows of 6 features, got an array of shape"):
        saabas.contributions(rows[:, :4])
    assert saabas.contributions(rows[:0]).shape == (0, 7)


def test_explainers_of_one_booster_share_its_table():
    """The service makes an explainer per call: the table is built once per booster and trees."""
    model, rounds, rows = _model(PARAMS[2])
    names = tuple(f"f{i}" for i in range(rows.shape[1]))
    first = Explainer(model.get_booster(), names, rounds, float("nan"))
    again = Explainer(model.get_booster(), names, rounds, float("nan"))
    assert first.saabas is not None and again.saabas is first.saabas
    assert Explainer(model.get_booster(), names, (0, 0), float("nan")).saabas is not first.saabas  # other trees


def test_categorical_splits_are_refused_by_both_tables_whatever_the_base_score():
    """XGBoost's own calls serve a model with categorical splits (base score estimated from the labels)."""
    import pandas as pd

    from fraud_pipelines.serving.flat_trees import Unsupported as WalkUnsupported
    from fraud_pipelines.serving.trees import RowPredictor

    x, y = _data(6)
    frame = pd.DataFrame(x[:, :5], columns=[f"f{i}" for i in range(5)])
    frame["kind"] = pd.Categorical(np.where(np.nan_to_num(x[:, 5]) > 0, "a", np.where(y == 1, "b", "c")))
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, enable_categorical=True, tree_method="hist",
                              n_jobs=1).fit(frame, y)
    booster = model.get_booster()
    with pytest.raises(Unsupported, match="categorical"):
        SaabasTrees(booster, 6, (0, 0), float("nan"))
    with pytest.raises(WalkUnsupported, match="categorical"):
        FlatTrees(booster, 6, (0, 0), float("nan"))
    predictor = RowPredictor(booster, 6, (0, 0), float("nan"))
    assert predictor.path != "flat trees" and predictor.contributions_path == "approx_contribs"
