"""Reason codes come from XGBoost's contributions, exact TreeSHAP or Saabas (the method reason codes
use): with either, each row's contributions add up to its margin; Saabas credits each split on the
charge's path with the change of the node's mean value (checked against the trees' own dump); the
top reasons are the largest contributions, named and valued readably (numbers rounded to 4 decimals),
and batch scoring's texts are the service's reasons as JSON, byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.governance.importance import global_importance
from fraud_pipelines.governance.reason_texts import reason_texts
from fraud_pipelines.governance.reasons import REASON_METHOD, Explainer, as_text, rounded, top_reasons


def _explainer(trained, method=REASON_METHOD) -> Explainer:
    return Explainer.from_classifier(trained.classifier, trained.feature_names, method=method)


@pytest.mark.parametrize("method", ["treeshap", "saabas"])
def test_contributions_sum_to_the_margin_for_sampled_rows(trained, splits, method):
    explainer = _explainer(trained, method)
    rows = splits.X_test.sample(200, random_state=3)
    matrix = rows[list(trained.feature_names)].to_numpy(dtype=np.float64)
    contributions = explainer.contributions(matrix)
    assert contributions.shape == (200, len(trained.feature_names) + 1)
    margins = trained.classifier.predict(rows, output_margin=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margins, rtol=0, atol=1e-4)
    # and the margin is the uncalibrated score's log-odds
    raw = trained.raw_proba(rows)
    np.testing.assert_allclose(1 / (1 + np.exp(-margins)), raw, rtol=1e-5)
    assert np.abs(contributions[:, :-1]).sum() > 0  # the features, not only the bias, carry the score


def _saabas_by_hand(trees: pd.DataFrame, names: list[str], row: pd.Series, n_trees: int) -> np.ndarray:
    """Saabas from the trees' dump: along the row's path, each split's feature gets the change of the
    cover-weighted mean leaf value from the node to the child the row went to."""
    nodes = trees.set_index("ID")
    means: dict[str, float] = {}

    def mean(node_id: str) -> float:
        node = nodes.loc[node_id]
        if node_id not in means:
            means[node_id] = node["Gain"] if node["Feature"] == "Leaf" else (
                (mean(node["Yes"]) * nodes.loc[node["Yes"], "Cover"]
                 + mean(node["No"]) * nodes.loc[node["No"], "Cover"]) / node["Cover"])
        return means[node_id]

    out = np.zeros(len(names))
    for tree in range(n_trees):
        node_id = f"{tree}-0"
        while nodes.loc[node_id, "Feature"] != "Leaf":
            node = nodes.loc[node_id]
            value = row[node["Feature"]]
            child = node["Missing"] if np.isnan(value) else (node["Yes"] if value < node["Split"] else node["No"])
            out[names.index(node["Feature"])] += mean(child) - mean(node_id)
            node_id = child
    return out


def test_saabas_credits_each_split_on_the_charges_path(trained, splits):
    explainer = _explainer(trained, "saabas")
    names = list(trained.feature_names)
    rows = splits.X_test.sample(5, random_state=1)[names]
    contributions = explainer.contributions(rows.to_numpy(dtype=np.float64))
    trees = trained.classifier.get_booster().trees_to_dataframe()
    n_trees = explainer.iteration_range[1] or int(trees["Tree"].max()) + 1
    for i, (_, row) in enumerate(rows.iterrows()):
        np.testing.assert_allclose(contributions[i, :-1], _saabas_by_hand(trees, names, row, n_trees), atol=1e-4)


def test_saabas_and_exact_treeshap_agree_on_what_drives_high_scores(trained, splits):
    scores = trained.raw_proba(splits.X_test)
    top = splits.X_test.iloc[np.argsort(-scores)[:50]][list(trained.feature_names)].to_numpy(dtype=np.float64)
    exact = _explainer(trained, "treeshap").reasons(top)
    saabas = _explainer(trained, "saabas").reasons(top)
    # the signal is x0 * x1: both methods name those two first, which of them may differ
    assert np.mean([{e[0]["feature"], s[0]["feature"]} <= {"x0", "x1"} for e, s in zip(exact, saabas)]) >= 0.9
    assert np.mean([{r["feature"] for r in e[:2]} == {r["feature"] for r in s[:2]}
                    for e, s in zip(exact, saabas)]) >= 0.8


def test_an_unknown_method_is_refused(trained):
    with pytest.raises(ValueError, match="method must be 'treeshap' or 'saabas'"):
        _explainer(trained, "lime").contributions(np.zeros((1, len(trained.feature_names))))


def test_top_reasons_are_the_largest_contributions_with_readable_values():
    contributions = np.array([[0.1, -2.0, 0.7, 0.3, 5.0], [0.0, 0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    matrix = np.array([[1.5, np.nan, 3.0, 2.0], [4.0, 5.0, 6.0, 7.0]])
    reasons = top_reasons(contributions, matrix, ["a", "b", "category", "d"],
                          readable={"category": ["Grocery", None]}, k=3)
    assert reasons[0] == [{"feature": "category", "value": "Grocery", "contribution": 0.7},  # float32 0.7, rounded
                          {"feature": "d", "value": 2.0, "contribution": 0.3},
                          {"feature": "a", "value": 1.5, "contribution": 0.1}]
    assert [r["feature"] for r in reasons[1]] == ["a", "b", "category"]  # ties keep feature order
    assert json.loads(as_text(reasons[0])) == reasons[0]


def test_reasons_of_a_trained_model_point_at_the_signal(trained, splits):
    """The synthetic fraud is x0 * x1 large: for the highest-scored rows the top reason is x0 or x1."""
    explainer = _explainer(trained)
    scores = trained.raw_proba(splits.X_test)
    top = splits.X_test.iloc[np.argsort(-scores)[:20]]
    reasons = explainer.reasons(top[list(trained.feature_names)].to_numpy(dtype=np.float64))
    assert all(len(r) == 3 for r in reasons)
    assert sum(r[0]["feature"] in ("x0", "x1") for r in reasons) >= 18


def test_global_importance_is_the_mean_absolute_contribution_per_feature():
    contributions = np.array([[0.5, -2.0, 0.0, 9.0], [-1.5, 1.0, 0.0, 9.0]])  # the last column is the bias
    importance = global_importance(contributions, ["a", "b", "c"])
    assert importance["feature"].tolist() == ["b", "a", "c"]
    np.testing.assert_allclose(importance["mean_abs_contribution"], [1.5, 1.0, 0.0])
    np.testing.assert_allclose(importance["mean_contribution"], [-0.5, -0.5, 0.0])


@pytest.mark.parametrize("method", ["treeshap", "saabas"])
def test_batch_reason_texts_are_the_reasons_the_service_returns(trained, splits, method):
    """Batch scoring writes `reason_texts`; the REST service returns `top_reasons`: the same JSON."""
    explainer = _explainer(trained, method)
    rows = splits.X_test.head(300)
    matrix = rows[list(trained.feature_names)].to_numpy(dtype=np.float64)
    matrix[::7, 3] = np.nan  # missing inputs are shown as null
    contributions = explainer.contributions(matrix)
    shown = ["Grocery", None, np.nan, 'a "quoted" name', "Café"] * 60
    readable = {"category": shown}
    texts = reason_texts(contributions, matrix, explainer.feature_names, readable=readable).to_pylist()
    expected = [as_text(r) for r in top_reasons(contributions, matrix, explainer.feature_names, readable=readable)]
    assert texts == expected
    assert any('"value":null' in t for t in texts) and any('"feature":"category"' in t for t in texts)


def test_batch_reason_texts_equal_the_per_row_path_on_random_rows_with_ties():
    """`reason_texts` (batch) against a dict and `json.dumps` per row (`top_reasons` + `as_text`) on
    random rows made to tie: equal contributions, +0.0 and -0.0, missing and extreme values, repeated
    and numeric readable values; byte for byte, ties in feature order."""
    rng = np.random.default_rng(16)
    rows, names = 3_000, [f"f{i}" for i in range(7)] + ["category"]
    contributions = rng.normal(size=(rows, len(names) + 1)).astype(np.float32)
    contributions[rng.random(contributions.shape) < 0.3] = 0.0
    contributions[::5, :4] = np.float32(0.25)  # four-way ties at the top
    contributions[::5, 4:] = np.float32(0.0)
    contributions[1::5, :] = np.float32(-0.0)  # all zero: the first three features by order
    contributions[2::5, 2] = np.float32(1e-30)
    matrix = rng.normal(0.0, 1e3, size=(rows, len(names)))
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    matrix[::3, 1] = -0.0
    matrix[::4, 2] = rng.choice([1e16, 1e-5, 123456789.125, 5e-324, -1e300], size=len(matrix[::4]))
    matrix[:, 3] = rng.integers(0, 20, size=rows)  # few distinct values
    shown = rng.choice(np.array(["Grocery", None, 'a "quoted" name', "Café", 3.0, -0.0, np.nan], dtype=object),
                       size=rows).tolist()
    readable = {"category": shown, "f5": [float(v) for v in rng.integers(0, 3, size=rows)]}
    for k in (1, 3, len(names)):
        texts = reason_texts(contributions, matrix, names, readable=readable, k=k).to_pylist()
        expected = [as_text(r) for r in top_reasons(contributions, matrix, names, readable=readable, k=k)]
        assert texts == expected
    texts = reason_texts(contributions, matrix, names, readable=readable).to_pylist()
    assert texts[1].startswith('[{"feature":"f0"') and '"contribution":0.0' in texts[1]  # -0.0 shown as 0.0
    assert [r["feature"] for r in json.loads(texts[0])] == ["f0", "f1", "f2"]
    assert not any("-0.0," in t for t in texts) and any('"value":"Caf\\u00e9"' in t for t in texts)
    assert any('"value":null' in t for t in texts) and any('"value":1e+16' in t for t in texts)


def test_numbers_are_written_as_json_writes_them_rounded():
    """Each rounded number's text (sign, integer part and decimals from tables) is `json.dumps` of the
    rounded float: across magnitudes, on rounding boundaries, signed zeros, integer parts beyond the
    table, from 1e9 on (not rounded), and NaN as null; infinities are refused."""
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.normal(0, 1, 20_000), rng.normal(0, 1e-3, 20_000), rng.normal(0, 1e5, 20_000), rng.normal(0, 3e8, 2_000),
        rng.integers(-30_000, 30_000, 2_000) / 1e4 + 5e-5,  # halfway cases of the 4th decimal
        [0.0, -0.0, 1e-5, -1e-5, -4e-5, 5e-5, -5e-5, 1.5e-4, 9.99995, -9999.99995, 10_000.0, -10_000.00004,
         999_999_999.99994, 999_999_999.99996, 1e9, -1e9, 1.7e308, -1e300, 5e-324, np.nan, 123456789.125],
    ])
    matrix = values[: len(values) // 2 * 2].reshape(-1, 2)
    contributions = np.tile(np.array([1.0, 0.0, 0.0], dtype=np.float32), (len(matrix), 1))
    texts = reason_texts(contributions, matrix, ["a", "b"], k=2).to_pylist()
    expected = [as_text(r) for r in top_reasons(contributions, matrix, ["a", "b"], k=2)]
    assert texts == expected
    cases = {1.23456: "1.2346", -2.5: "-2.5", 12345.6789: "12345.6789", -0.00004: "0.0", 5e-324: "0.0",
             1e9: "1000000000.0", 1.7e308: "1.7e+308", float("nan"): "null"}
    matrix = np.array([[value, 0.0] for value in cases])
    texts = reason_texts(contributions[:len(cases)], matrix, ["a", "b"], k=1).to_pylist()
    assert texts == [f'[{{"feature":"a","value":{text},"contribution":1.0}}]' for text in cases.values()]
    assert np.array_equal(rounded([-0.0, 2.71828]), [0.0, 2.7183]) and np.signbit(rounded([-0.0])).sum() == 0
    with pytest.raises(ValueError, match="finite"):
        reason_texts(contributions[:1], np.array([[np.inf, 1.0]]), ["a", "b"])
