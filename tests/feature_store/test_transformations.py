"""Transformation functions: scikit-learn's rules, JSON state, and frame/scalar paths that agree."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.feature_store.transformations import (
    BUILT_INS,
    LabelEncoder,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
    from_state,
    to_state,
    transform_value,
)

TRAIN = pd.Series([3.0, 1.0, 2.0, np.nan, 10.0], name="x")
TEXT = pd.Series(["b", "a", None, "c", "a"], name="c")


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (MinMaxScaler(), [(3 - 1) / 9, 0.0, 1 / 9, math.nan, 1.0]),
        (StandardScaler(), list((TRAIN - 4.0) / np.nanstd(TRAIN.to_numpy()))),
        (RobustScaler(), list((TRAIN - 2.5) / (4.75 - 1.75))),
    ],
)
def test_scalers_learn_from_fit_only(function, expected) -> None:
    assert function.fit(TRAIN) is function
    np.testing.assert_allclose(function.transform(TRAIN).to_numpy(), expected, rtol=1e-12)
    before = dict(vars(function))
    function.transform(pd.Series([1000.0, -5.0], name="x"))
    assert vars(function) == before  # transform never learns


def test_encoders_map_unknown_and_null() -> None:
    labels = LabelEncoder().fit(TEXT)
    assert labels.classes_ == ["a", "b", "c"]
    assert labels.transform(pd.Series(["c", "zzz", None, "a"])).tolist() == [2, -1, -1, 0]
    hot = OneHotEncoder().fit(TEXT)
    out = hot.transform(pd.Series(["c", "zzz", None], name="c"))
    assert list(out.columns) == ["c_a", "c_b", "c_c"]
    assert out.to_numpy().tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_state_round_trips_through_json_and_both_paths_agree(name: str) -> None:
    data = TEXT if name in ("label_encoder", "one_hot_encoder") else TRAIN
    fitted = BUILT_INS[name]().fit(data)
    document = json.loads(json.dumps(to_state(fitted, name)))
    assert set(document) == {"function", "params", "state"} and all(k.endswith("_") for k in document["state"])
    restored = from_state(document, BUILT_INS)
    probe = pd.Series([*data.tolist(), "unseen" if data is TEXT else 99.0], name=data.name)
    frame = restored.transform(probe)
    rows = frame.to_numpy().tolist() if isinstance(frame, pd.DataFrame) else frame.tolist()
    scalars = [transform_value(restored, v) for v in probe.tolist()]
    for row, scalar in zip(rows, scalars):
        row = tuple(row) if isinstance(row, list) else row
        assert row == scalar or (isinstance(row, float) and math.isnan(row) and math.isnan(scalar))


class ClipAndLog:
    """A custom, duck-typed transformation: log1p of values clipped at the training p99."""

    def __init__(self, quantile: float = 0.99) -> None:
        self.quantile = quantile

    def fit(self, values: pd.Series) -> ClipAndLog:
        self.cap_ = float(values.quantile(self.quantile))
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        return np.log1p(values.clip(upper=self.cap_))


def test_custom_transformations_keep_params_and_state() -> None:
    fitted = ClipAndLog(quantile=0.5).fit(TRAIN)
    document = to_state(fitted, "clip_and_log")
    assert document["params"] == {"quantile": 0.5} and document["state"] == {"cap_": 2.5}
    restored = from_state(document, {"clip_and_log": ClipAndLog})
    assert transform_value(restored, 10.0) == pytest.approx(math.log1p(2.5))
    with pytest.raises(Exception, match="not registered"):
        from_state(document, BUILT_INS)
