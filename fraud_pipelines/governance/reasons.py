"""Reason codes: why a charge got its score, from XGBoost's own per-feature contributions
(`pred_contribs`) on the model's transformed input vector, no second model.

Two methods, both XGBoost's and both summing per row to the trees' margin (log-odds, before
calibration): "treeshap", exact TreeSHAP, which walks every path of every tree (O(trees x leaves x
depth^2) a charge, milliseconds on hundreds of trees), and "saabas" (`approx_contribs`), which walks
only the path the charge took and credits each split's feature with the change of the node's mean
value. `REASON_METHOD` is the one reason codes use, in batch scoring and in the REST service alike,
so the same charge gets the same reasons in both. Saabas' contributions come from a table of the
trees' nodes (`governance.saabas`): XGBoost adds its rows for many rows in one prediction, the
service's tree walk for one row, both `approx_contribs` bit for bit. The numbers shown are rounded
to `DIGITS` decimals (`rounded`), the same way in every path. xgboost is never imported at module
level; the booster is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from weakref import WeakKeyDictionary

import numpy as np

from fraud_pipelines.governance.saabas import SaabasTrees, Unsupported

#: How many reasons a score carries (the `reasons` column of batch_scores, /predict?include_reasons=true).
TOP_K = 3
#: Decimals of the values and contributions shown (numpy's round), below `ROUNDED_BELOW` in magnitude.
DIGITS = 4
#: Beyond this magnitude numbers are shown as they are (no decimals worth showing; rounding could overflow).
ROUNDED_BELOW = 1e9
#: Saabas tables by booster, then (features, trees, missing); gone with the booster.
_TABLES: WeakKeyDictionary[Any, dict[tuple[int, tuple[int, int], str], SaabasTrees | None]] = WeakKeyDictionary()
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

    @property
    def saabas(self) -> SaabasTrees | None:
        """The trees' Saabas table (contributions and probabilities in one XGBoost prediction), or None
        when the booster has what it does not reproduce (then `approx_contribs` itself is called). Built
        once per booster and trees, however many explainers are made for it (the service makes one a call)."""
        key = (len(self.feature_names), tuple(self.iteration_range), repr(float(self.missing)))  # NaN != NaN
        built = _TABLES.setdefault(self.booster, {})
        if key not in built:
            try:
                built[key] = SaabasTrees(self.booster, key[0], key[1], self.missing)
            except Unsupported:
                built[key] = None
        return built[key]

    def contributions(self, vectors: Any) -> np.ndarray:
        """Per-feature contributions by `method`, shape (n_rows, n_features + 1); the last column is the bias."""
        from xgboost import DMatrix

        if self.method not in ("treeshap", "saabas"):
            raise ValueError(f"method must be 'treeshap' or 'saabas', got {self.method!r}")
        matrix = as_matrix(vectors, len(self.feature_names))
        if self.method == "saabas" and self.saabas is not None:
            return self.saabas.contributions(matrix)
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
    feature order), each as {"feature", "value", "contribution"}, numbers `rounded`. `value` is the
    model's input value, or for a transformed feature (e.g. an encoded category) the value given in
    `readable`."""
    names = list(feature_names)
    order = top_order(contributions, len(names), k)
    rows = np.arange(len(order))[:, None]
    contribs = rounded(np.asarray(contributions)[rows, order]).tolist()
    values = rounded(np.asarray(matrix)[rows, order]).tolist()
    readable = readable or {}
    return [[{"feature": names[j], "value": _value(readable[names[j]][row]) if names[j] in readable
              else _number(values[row][i]), "contribution": contribs[row][i]} for i, j in enumerate(picks)]
            for row, picks in enumerate(order.tolist())]


def top_order(contributions: np.ndarray, width: int, k: int = TOP_K) -> np.ndarray:
    """Per row, the columns of the `k` largest of the first `width` contributions (ties in column order)."""
    per_feature = np.asarray(contributions)[:, :width]
    return np.argsort(-per_feature, axis=1, kind="stable")[:, :k]  # ~10 features: a full sort is cheap


def rounded(values: Any) -> np.ndarray:
    """Numbers as reason codes show them: float64 rounded to `DIGITS` decimals below `ROUNDED_BELOW` in
    magnitude (as they are beyond), -0.0 as 0.0, NaN kept (shown as null)."""
    values = np.asarray(values, dtype=np.float64)
    small = np.abs(values) < ROUNDED_BELOW  # False for NaN
    if small.all():
        return np.round(values, DIGITS) + 0.0
    out = np.array(values)  # NaN and huge numbers stay; rounding the huge ones could overflow
    out[small] = np.round(values[small], DIGITS)
    return out + 0.0


def readable_values(transformed: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """For features the model sees transformed, their untransformed values row by row."""
    return {name: [row.get(name) for row in rows] for name in transformed}


def as_text(reasons: list[dict[str, Any]]) -> str:
    """A row's reasons as the compact JSON stored in batch_scores' `reasons` column."""
    return json.dumps(reasons, separators=(",", ":"), allow_nan=False)


def value_json(value: Any) -> str:
    """A readable value as reason codes write it (`_value`, then JSON)."""
    return json.dumps(_value(value), allow_nan=False)


def _value(value: Any) -> Any:
    """A JSON-friendly readable value: text as text, missing as None, numbers `rounded`."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _number(float(rounded(float(value))))


def _number(value: float) -> float | None:
    return None if np.isnan(value) else value
