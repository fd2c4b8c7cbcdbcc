"""Reason codes: why a charge got its score, from XGBoost's own per-feature contributions
(`pred_contribs`) on the model's transformed input vector, no second model.

Two methods, both XGBoost's and both summing per row to the trees' margin (log-odds, before
calibration): "treeshap", exact TreeSHAP, which walks every path of every tree (O(trees x leaves x
depth^2) a charge, milliseconds on hundreds of trees), and "saabas" (`approx_contribs`), which walks
only the path the charge took and credits each split's feature with the change of the node's mean
value (O(trees x depth), as cheap as a few predictions). `REASON_METHOD` is the one reason codes use,
in batch scoring and in the REST service alike, so the same charge gets the same reasons in both
(bench/bench_reason_codes.py has the costs and how often the two agree). xgboost is never imported
at module level; the booster is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

#: How many reasons a score carries (the `reasons` column of batch_scores, /predict?include_reasons=true).
TOP_K = 3
Method = Literal["treeshap", "saabas"]
#: The contributions reason codes are made of, in batch scoring and in the REST service.
REASON_METHOD: Method = "saabas"


@dataclass(frozen=True)
class Explainer:
    """The trees a scorer runs, with what `pred_contribs` needs to walk the same ones."""

    booster: Any  # xgboost.Booster
    feature_names: tuple[str, ...]
    iteration_range: tuple[int, int]
    missing: float
    method: Method = REASON_METHOD

    @classmethod
    def from_classifier(cls, classifier: Any, feature_names: Sequence[str], *,
                        method: Method = REASON_METHOD) -> Explainer:
        """The explainer of a fitted XGBClassifier, limited to its early-stopped trees as `predict_proba` is."""
        try:
            iteration_range = (0, int(classifier.best_iteration) + 1)
        except AttributeError:
            iteration_range = (0, 0)
        return cls(classifier.get_booster(), tuple(feature_names), iteration_range, float(classifier.missing),
                   method)

    def contributions(self, vectors: Any) -> np.ndarray:
        """Per-feature contributions by `method`, shape (n_rows, n_features + 1); the last column is the bias."""
        from xgboost import DMatrix

        if self.method not in ("treeshap", "saabas"):
            raise ValueError(f"method must be 'treeshap' or 'saabas', got {self.method!r}")
        matrix = as_matrix(vectors, len(self.feature_names))
        data = DMatrix(matrix, missing=self.missing, nthread=1 if len(matrix) < 1_000 else None)
        return self.booster.predict(data, pred_contribs=True, approx_contribs=self.method == "saabas",
                                    iteration_range=self.iteration_range, validate_features=False)

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
    `iteration_range`, `missing`), transformed features shown by their `raw` (request) values. A model
    with its own `saabas_contributions` (the service's tree walk, checked bit for bit against XGBoost's
    `approx_contribs` when it loads) gives them when the method is Saabas: the same numbers, without
    XGBoost's fixed cost per call."""
    if transformed is None:
        from fraud_pipelines.training.fraud_view import TRANSFORMATIONS as transformed
    explainer = Explainer(model.booster, tuple(model.feature_names), tuple(model.iteration_range), float(model.missing))
    names = [name for name in transformed if name in explainer.feature_names]
    matrix = as_matrix(vectors, len(explainer.feature_names))
    own = getattr(model, "saabas_contributions", None) if explainer.method == "saabas" else None
    contributions = own(matrix) if own is not None else explainer.contributions(matrix)
    return top_reasons(contributions, matrix, explainer.feature_names, readable=readable_values(names, raw), k=k)


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
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :k]  # 3 of ~20 features: a full sort is cheap
    readable = readable or {}
    out = []
    for row, picks in enumerate(order):
        out.append([{"feature": names[j], "value": _value(readable[names[j]][row] if names[j] in readable
                                                            else matrix[row, j]),
                     "contribution": float(per_feature[row, j])} for j in picks])
    return out


def reason_texts(contributions: np.ndarray, matrix: np.ndarray, feature_names: Sequence[str], *,
                 readable: Mapping[str, Sequence[Any]] | None = None, k: int = TOP_K) -> list[str]:
    """Per row, exactly `as_text(top_reasons(...))`, built from vectorized picks and per-feature JSON
    pieces: batch scoring may explain every charge of a day, and a dict and `json.dumps` per row cost
    more than Saabas' contributions themselves. A readable category is written once per distinct
    name; numbers one by one (Python's float repr, what `json.dumps` writes, is most of the cost)."""
    names = list(feature_names)
    per_feature = np.asarray(contributions)[:, : len(names)]
    order = np.argsort(-per_feature, axis=1, kind="stable")[:, :k]  # ~10 features: a full sort is cheap
    rows = np.arange(len(order))[:, None]
    contribs = per_feature[rows, order].astype(np.float64)  # float32 -> float64 is exact, as float() is
    values = np.asarray(matrix, dtype=np.float64)[rows, order]
    if not np.isfinite(contribs).all() or np.isinf(values).any():
        raise ValueError("reason contributions and values must be finite to be written as JSON")
    width = order.shape[1]
    heads = [f'{{"feature":{json.dumps(name)},"value":' for name in names]
    picked = order.ravel().tolist()
    value_text = ["null" if t == "nan" else t for t in map(repr, values.ravel().tolist())]
    for j, name in enumerate(names):  # a transformed feature (a category) shows its readable value
        if name in (readable or {}):
            at = np.flatnonzero(order.ravel() == j)
            shown = readable[name]
            for i, text in zip(at.tolist(), _readable_texts([shown[r] for r in (at // width).tolist()])):
                value_text[i] = text
    contribution_text = map(repr, contribs.ravel().tolist())  # json.dumps writes a float as its repr
    pieces = [f'{heads[j]}{v},"contribution":{c}}}' for j, v, c in zip(picked, value_text, contribution_text)]
    return [f"[{','.join(pieces[i:i + width])}]" for i in range(0, len(pieces), width)]


def _readable_texts(shown: list[Any]) -> list[str]:
    """`_json` of each readable value, once per distinct text (categories repeat; numbers are written each)."""
    memo: dict[str, str] = {}
    return [(memo.get(value) or memo.setdefault(value, _json(value))) if isinstance(value, str) else _json(value)
            for value in shown]


def readable_values(transformed: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """For features the model sees transformed, their untransformed values row by row."""
    return {name: [row.get(name) for row in rows] for name in transformed}


def as_text(reasons: list[dict[str, Any]]) -> str:
    """A row's reasons as the compact JSON stored in batch_scores' `reasons` column."""
    return json.dumps(reasons, separators=(",", ":"), allow_nan=False)


def _json(value: Any) -> str:
    return json.dumps(_value(value), allow_nan=False)


def _value(value: Any) -> Any:
    """A JSON-friendly value: floats as floats, missing as None, text as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    number = float(value)
    return None if np.isnan(number) else number
