"""Model-dependent transformation functions, fitted on a training split and applied identically
to training data, batch data and online feature vectors.

They follow scikit-learn's estimator rules: parameters only in `__init__` (stored as attributes
of the same name), learned state in attributes ending in `_` set by `fit`, `fit` returns
`self`, `transform` never learns. Fitted state is plain JSON (`to_state` / `from_state`), so it
travels with a training dataset version and can be logged to MLflow.

A transformation sees one feature column: `transform(series)` for frames and
`transform_value(value)` for the single-vector serving path (no pandas there). Both must
agree; the built-ins compute the same float operations in the same order. Custom ones
subclass `TransformationFunction` (or just provide `fit`/`transform`) and are registered by
name with `FeatureStore.register_transformation`.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .errors import InvalidInputError


class TransformationFunction:
    """Base class: one input column in, one (or, for one-hot, several) output columns out."""

    name: ClassVar[str] = ""

    def fit(self, values: pd.Series) -> TransformationFunction:
        """Learn state from a training column; returns self."""
        return self

    def transform(self, values: pd.Series) -> pd.Series | pd.DataFrame:
        """Transform a column; a DataFrame when the function makes several columns."""
        raise NotImplementedError

    def transform_value(self, value: Any) -> Any:
        """Transform one value (tuple for several columns); by default through `transform`."""
        out = self.transform(pd.Series([value]))
        if isinstance(out, pd.DataFrame):
            return tuple(_plain(v) for v in out.iloc[0].tolist())
        return _plain(out.iloc[0])

    def output_names(self, feature: str) -> list[str]:
        """Names of the columns this function produces for `feature`."""
        return [feature]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (read back from the attributes of the same name)."""
        parameters = inspect.signature(type(self).__init__).parameters.values()
        names = [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return {n: getattr(self, n) for n in names}


class MinMaxScaler(TransformationFunction):
    """(x - min) / (max - min) with min/max of the training split; constant columns give 0."""

    name = "min_max_scaler"

    def fit(self, values: pd.Series) -> MinMaxScaler:
        numbers = _floats(values)
        self.min_ = _stat(np.nanmin, numbers)
        self.scale_ = _inverse(_stat(np.nanmax, numbers) - self.min_)
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        return pd.Series((_floats(values) - self.min_) * self.scale_, index=values.index, name=values.name)

    def transform_value(self, value: Any) -> float:
        return math.nan if _missing(value) else (float(value) - self.min_) * self.scale_


class StandardScaler(TransformationFunction):
    """(x - mean) / std (population std, like scikit-learn); a constant column gives 0."""

    name = "standard_scaler"

    def fit(self, values: pd.Series) -> StandardScaler:
        numbers = _floats(values)
        self.mean_ = _stat(np.nanmean, numbers)
        self.scale_ = _inverse(_stat(np.nanstd, numbers))
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        return pd.Series((_floats(values) - self.mean_) * self.scale_, index=values.index, name=values.name)

    def transform_value(self, value: Any) -> float:
        return math.nan if _missing(value) else (float(value) - self.mean_) * self.scale_


class RobustScaler(TransformationFunction):
    """(x - median) / IQR, robust to outliers; `quantile_range` in percent."""

    name = "robust_scaler"

    def __init__(self, quantile_range: tuple[float, float] | list[float] = (25.0, 75.0)) -> None:
        self.quantile_range = list(quantile_range)

    def fit(self, values: pd.Series) -> RobustScaler:
        numbers = _floats(values)
        low, high = self.quantile_range
        if not 0 <= low < high <= 100:
            raise InvalidInputError(
                f"robust_scaler quantile_range must satisfy 0 <= low < high <= 100, got {self.quantile_range}"
            )
        self.center_ = _stat(np.nanmedian, numbers)
        spread = _stat(lambda a: np.nanpercentile(a, high) - np.nanpercentile(a, low), numbers)
        self.scale_ = _inverse(spread)
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        return pd.Series((_floats(values) - self.center_) * self.scale_, index=values.index, name=values.name)

    def transform_value(self, value: Any) -> float:
        return math.nan if _missing(value) else (float(value) - self.center_) * self.scale_


class LabelEncoder(TransformationFunction):
    """Each training category to its rank among the sorted categories; unknown or null to -1."""

    name = "label_encoder"

    def fit(self, values: pd.Series) -> LabelEncoder:
        self.classes_ = sorted(_plain(v) for v in values.dropna().unique())
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        codes = pd.Categorical(values, categories=self.classes_).codes.astype(np.int64)
        return pd.Series(codes, index=values.index, name=values.name)

    def transform_value(self, value: Any) -> int:
        return self._index().get(value, -1) if not _missing(value) else -1

    def _index(self) -> dict[Any, int]:
        # a lookup table derived from classes_ (not learned state), built on first use
        index = self.__dict__.get("_lookup")
        if index is None:
            index = self.__dict__["_lookup"] = {c: i for i, c in enumerate(self.classes_)}
        return index


class OneHotEncoder(TransformationFunction):
    """One 0/1 column per training category (`<feature>_<category>`); unknown or null: all 0."""

    name = "one_hot_encoder"

    def fit(self, values: pd.Series) -> OneHotEncoder:
        self.categories_ = sorted(_plain(v) for v in values.dropna().unique())
        return self

    def transform(self, values: pd.Series) -> pd.DataFrame:
        codes = pd.Categorical(values, categories=self.categories_).codes
        matrix = np.zeros((len(values), len(self.categories_)), dtype=np.int8)
        known = codes >= 0
        matrix[np.flatnonzero(known), codes[known]] = 1
        return pd.DataFrame(matrix, index=values.index, columns=self.output_names(str(values.name)))

    def transform_value(self, value: Any) -> tuple[int, ...]:
        hot = -1 if _missing(value) else self._index().get(value, -1)
        return tuple(1 if i == hot else 0 for i in range(len(self.categories_)))

    def output_names(self, feature: str) -> list[str]:
        return [f"{feature}_{c}" for c in self.categories_]

    def _index(self) -> dict[Any, int]:
        index = self.__dict__.get("_lookup")
        if index is None:
            index = self.__dict__["_lookup"] = {c: i for i, c in enumerate(self.categories_)}
        return index


BUILT_INS: dict[str, type] = {
    cls.name: cls for cls in (MinMaxScaler, StandardScaler, RobustScaler, LabelEncoder, OneHotEncoder)
}


def to_state(function: Any, registered_name: str) -> dict[str, Any]:
    """{"function", "params", "state"}: JSON that `from_state` turns back into the fitted object."""
    getter = getattr(function, "get_params", None)
    params = getter() if getter is not None else TransformationFunction.get_params(function)
    state = {k: _jsonable(v, k) for k, v in vars(function).items() if k.endswith("_") and not k.startswith("_")}
    document = {"function": registered_name, "params": _jsonable(params, "params"), "state": state}
    json.dumps(document, allow_nan=True)
    return document


def from_state(document: Mapping[str, Any], registry: Mapping[str, type]) -> Any:
    """Rebuild a (fitted, if state is present) transformation from its JSON document."""
    name = document["function"]
    if name not in registry:
        raise InvalidInputError(
            f"transformation function '{name}' is not registered; known: {sorted(registry)} "
            "(register custom ones with FeatureStore.register_transformation)"
        )
    function = registry[name](**document.get("params", {}))
    for key, value in document.get("state", {}).items():
        setattr(function, key, value)
    return function


def output_names(function: Any, feature: str) -> list[str]:
    """Output column names, for built-ins and duck-typed custom functions alike."""
    return function.output_names(feature) if hasattr(function, "output_names") else [feature]


def transform_value(function: Any, value: Any) -> Any:
    """One value through `function`, using its scalar path when it has one."""
    if hasattr(function, "transform_value"):
        return function.transform_value(value)
    return TransformationFunction.transform_value(function, value)


def _floats(values: pd.Series) -> np.ndarray:
    try:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"column '{values.name}' must be numeric for a scaler: {exc}") from exc


def _stat(reduce: Any, numbers: np.ndarray) -> float:
    if not np.isfinite(numbers).any():
        return 0.0
    return float(reduce(numbers[np.isfinite(numbers)]))


def _inverse(spread: float) -> float:
    return 1.0 / spread if spread and math.isfinite(spread) else 0.0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InvalidInputError(f"fitted state '{where}' holds {type(value).__name__}, which is not JSON")
