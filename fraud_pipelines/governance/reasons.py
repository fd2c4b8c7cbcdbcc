"""Reason codes: why a charge got its score, from XGBoost's own TreeSHAP contributions
(`pred_contribs`) on the model's transformed input vector, no second model.

One function serves batch scoring and the REST service, so the same charge gets the same reasons
in both. Contributions are in the trees' margin (log-odds) space, before calibration: per row they
sum to the margin. xgboost is never imported here; the booster is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: How many reasons a score carries (the `reasons` column of batch_scores, /predict?include_reasons=true).
TOP_K = 3


@dataclass(frozen=True)
class Explainer:
    """The trees a scorer runs, with what `pred_contribs` needs to walk the same ones."""

    booster: Any  # xgboost.Booster
    feature_names: tuple[str, ...]
    iteration_range: tuple[int, int]
    missing: float

    @classmethod
    def from_classifier(cls, classifier: Any, feature_names: Sequence[str]) -> Explainer:
        """The explainer of a fitted XGBClassifier, limited to its early-stopped trees as `predict_proba` is."""
        try:
            iteration_range = (0, int(classifier.best_iteration) + 1)
        except AttributeError:
            iteration_range = (0, 0)
        return cls(classifier.get_booster(), tuple(feature_names), iteration_range, float(classifier.missing))

    def contributions(self, vectors: Any) -> np.ndarray:
        """TreeSHAP contributions, shape (n_rows, n_features + 1); the last column is the bias."""
        from xgboost import DMatrix

        matrix = as_matrix(vectors, len(self.feature_names))
        data = DMatrix(matrix, missing=self.missing, nthread=1 if len(matrix) < 1_000 else None)
        return self.booster.predict(data, pred_contribs=True, iteration_range=self.iteration_range,
                                    validate_features=False)

    def margins(self, vectors: Any) -> np.ndarray:
        """The trees' raw margin (log-odds) per row: what each row's contributions add up to."""
        matrix = as_matrix(vectors, len(self.feature_names))
        return self.booster.inplace_predict(matrix, iteration_range=self.iteration_range, predict_type="margin",
                                            missing=self.missing, validate_features=False)

    def reasons(self, vectors: Any, *, readable: Mapping[str, Sequence[Any]] | None = None,
                k: int = TOP_K) -> list[list[dict[str, Any]]]:
        """The top-k reasons per row (see `top_reasons`)."""
        matrix = as_matrix(vectors, len(self.feature_names))
        return top_reasons(self.contributions(matrix), matrix, self.feature_names, readable=readable, k=k)


def reasons_for_vectors(model: Any, vectors: Sequence[Sequence[Any]], raw: Sequence[Mapping[str, Any]],
                        *, transformed: Sequence[str] | None = None, k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """The REST service's hook: reasons for a served model's vectors (its `booster`, `feature_names`,
    `iteration_range`, `missing`), transformed features shown by their `raw` (request) values."""
    if transformed is None:
        from fraud_pipelines.training.fraud_view import TRANSFORMATIONS as transformed
    explainer = Explainer(model.booster, tuple(model.feature_names), tuple(model.iteration_range), float(model.missing))
    names = [name for name in transformed if name in explainer.feature_names]
    return explainer.reasons(vectors, readable=readable_values(names, raw), k=k)


def as_matrix(vectors: Any, width: int) -> np.ndarray:
    """Model input vectors as a float64 matrix (the REST scorer's and batch scoring's common form)."""
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise ValueError(f"expected vectors of {width} features, got an array of shape {matrix.shape}")
    return matrix


def top_reasons(contributions: np.ndarray, matrix: np.ndarray, feature_names: Sequence[str], *,
                readable: Mapping[str, Sequence[Any]] | None = None, k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """Per row, the `k` features that pushed the score up most (largest contribution first; ties in
    feature order), each as {"feature", "value", "contribution"}. `value` is the model's input value,
    or for a transformed feature (e.g. an encoded category) the value given in `readable`."""
    names = list(feature_names)
    per_feature = np.asarray(contributions)[:, : len(names)]
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :k]
    readable = readable or {}
    out = []
    for row, picks in enumerate(order):
        out.append([{"feature": names[j], "value": _value(readable[names[j]][row] if names[j] in readable
                                                            else matrix[row, j]),
                     "contribution": float(per_feature[row, j])} for j in picks])
    return out


def readable_values(transformed: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """For features the model sees transformed, their untransformed values row by row."""
    return {name: [row.get(name) for row in rows] for name in transformed}


def as_text(reasons: list[dict[str, Any]]) -> str:
    """A row's reasons as the compact JSON stored in batch_scores' `reasons` column."""
    return json.dumps(reasons, separators=(",", ":"), allow_nan=False)


def _value(value: Any) -> Any:
    """A JSON-friendly value: floats as floats, missing as None, text as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    number = float(value)
    return None if np.isnan(number) else number
