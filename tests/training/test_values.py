"""The training assets' stored values: JSON on the materialization, refused clearly when missing or unfit."""

from __future__ import annotations

import math

import dagster as dg
import numpy as np
import pytest

from fraud_pipelines.training.values import TRAINING_VALUES, VALUE_KEY, ValueNotStoredError, to_json


def test_values_round_trip_as_json_with_numpy_scalars_and_nan():
    text = to_json({"version": np.int64(3), "better": np.bool_(True), "curve": [float("nan"), np.float32(0.5)],
                    "scores": np.array([1, 2])}, what="x")
    value = TRAINING_VALUES.load_input(_context_after(dg.AssetMaterialization("x", metadata={VALUE_KEY: text})))
    assert value["version"] == 3 and value["better"] is True and value["scores"] == [1, 2]
    assert math.isnan(value["curve"][0]) and value["curve"][1] == 0.5


def test_unfit_outputs_are_refused_naming_the_asset():
    with pytest.raises(TypeError, match=r"fraud_model: its output cannot be stored as JSON"):
        to_json({"frame": object()}, what="fraud_model")
    with pytest.raises(ValueError, match=r"fraud_model: its output is [\d,]+ characters"):
        to_json({"rows": list(range(100_000))}, what="fraud_model")


def test_a_materialization_without_a_stored_value_is_refused_with_what_to_do():
    context = _context_after(dg.AssetMaterialization("feature_selection"), key="feature_selection")
    with pytest.raises(ValueNotStoredError, match=r"feature_selection's latest materialization .* holds no stored "
                                                  r"value .*materialize feature_selection again"):
        TRAINING_VALUES.load_input(context)


def test_an_asset_never_materialized_is_refused_with_what_to_do():
    context = dg.build_input_context(asset_key=dg.AssetKey("model_tuning"), instance=dg.DagsterInstance.ephemeral())
    with pytest.raises(ValueNotStoredError, match=r"model_tuning has never been materialized .* materialize "
                                                  r"model_tuning \(or the whole training group\) first"):
        TRAINING_VALUES.load_input(context)


def _context_after(materialization: dg.AssetMaterialization, key: str = "x") -> dg.InputContext:
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(materialization)
    return dg.build_input_context(asset_key=dg.AssetKey(key), instance=instance)
