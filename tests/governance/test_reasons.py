"""Reason codes come from XGBoost's TreeSHAP: each row's contributions add up to its margin, and
the top reasons are the largest contributions, named and valued readably."""

from __future__ import annotations

import json

import numpy as np

from fraud_pipelines.governance.importance import global_importance
from fraud_pipelines.governance.reasons import Explainer, as_text, top_reasons


def _explainer(trained) -> Explainer:
    return Explainer.from_classifier(trained.classifier, trained.feature_names)


def test_contributions_sum_to_the_margin_for_sampled_rows(trained, splits):
    explainer = _explainer(trained)
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


def test_top_reasons_are_the_largest_contributions_with_readable_values():
    contributions = np.array([[0.1, -2.0, 0.7, 0.3, 5.0], [0.0, 0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    matrix = np.array([[1.5, np.nan, 3.0, 2.0], [4.0, 5.0, 6.0, 7.0]])
    reasons = top_reasons(contributions, matrix, ["a", "b", "category", "d"],
                          readable={"category": ["Grocery", None]}, k=3)
    assert reasons[0] == [{"feature": "category", "value": "Grocery", "contribution": float(np.float32(0.7))},
                          {"feature": "d", "value": 2.0, "contribution": float(np.float32(0.3))},
                          {"feature": "a", "value": 1.5, "contribution": float(np.float32(0.1))}]
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
