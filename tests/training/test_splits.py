"""Temporal splits that cannot be empty: derived boundaries move until validation and test hold
enough frauds, configured ones are checked, and a real `training_dataset` run on sparse labels
fails before any training with a message naming the config keys."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.assets import (
    feature_selection,
    fraud_feature_view,
    fraud_model,
    model_tuning,
    training_dataset,
)
from fraud_pipelines.training.splits import (
    SplitError,
    check_positives,
    configured_ranges,
    default_ranges,
    ranges_with_positives,
)


def labels(frauds_per_day: list[int], rows_per_day: int = 100) -> tuple[pd.Series, pd.Series]:
    """Labels over consecutive days from 2025-01-01, each day's frauds first, at 12:00."""
    times, flags = [], []
    for day, frauds in enumerate(frauds_per_day):
        noon = pd.Timestamp("2025-01-01 12:00", tz="UTC") + pd.Timedelta(days=day)
        times += [noon + pd.Timedelta(seconds=i) for i in range(rows_per_day)]
        flags += [1] * frauds + [0] * (rows_per_day - frauds)
    return pd.Series(pd.DatetimeIndex(times)), pd.Series(np.array(flags, dtype=np.int8))


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_enough_frauds_keeps_the_share_based_boundaries():
    times, flags = labels([5] * 10)
    ranges = ranges_with_positives(times, flags, min_positives=5)
    assert ranges == default_ranges(times.min(), times.max())
    assert (ranges.train_end, ranges.validation_end) == (day("2025-01-08"), day("2025-01-09"))


def test_a_sparse_tail_moves_test_and_validation_earlier_until_each_holds_the_minimum():
    times, flags = labels([10, 10, 10, 10, 10, 10, 4, 3, 0, 2])
    ranges = ranges_with_positives(times, flags, min_positives=8)
    # test: 2025-01-10 holds 2 → back to 01-07 (4 + 3 + 0 + 2 = 9); validation then 01-06 (10).
    assert ranges.validation_end == day("2025-01-07") and ranges.train_end == day("2025-01-06")
    counts = check_positives(ranges, times, flags, min_positives=8)
    assert counts == {"train": 50, "validation": 10, "test": 9}


def test_too_few_frauds_fails_naming_the_keys():
    times, flags = labels([3, 2, 1, 0, 2, 1])
    with pytest.raises(SplitError) as caught:
        ranges_with_positives(times, flags, min_positives=20)
    message = str(caught.value)
    assert "hold 9 fraud(s)" in message and "`min_positives`=20" in message
    for key in ("`train_start`", "`train_end`", "`validation_end`", "`test_end`", "`min_positives`"):
        assert key in message
    assert len(message) < 2_000


def test_configured_ranges_with_too_few_frauds_name_the_split_and_the_keys():
    times, flags = labels([10, 10, 10, 10, 0, 10])
    ranges = configured_ranges("2025-01-01", "2025-01-05", "2025-01-06", "2025-01-07")
    expected = r"validation \(2025-01-05\) holds 0.*from `train_end` to before `validation_end`"
    with pytest.raises(SplitError, match=expected):
        check_positives(ranges, times, flags, min_positives=1)
    assert check_positives(configured_ranges("2025-01-01", "2025-01-04", "2025-01-06", "2025-01-07"),
                           times, flags, min_positives=10) == {"train": 30, "validation": 10, "test": 10}


def test_a_real_run_on_sparse_labels_fails_before_training():
    source = RawSourceResource(n_cards=200, transactions_per_day=150, horizon_days=10, seed=2, fraud_rate=0.01)
    resources = {"storage": StorageResource(), "raw_source": source}
    tags = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-04"}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS], tags=tags, resources=resources, instance=instance).success

    result = dg.materialize([fraud_feature_view, training_dataset, feature_selection, model_tuning, fraud_model],
                            resources={**resources, "mlflow": MlflowResource()}, instance=instance,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.get_step_failure_events() if e.step_key == "training_dataset")
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert error.cls_name == "SplitError"
    assert "`train_end`" in error.message and "`min_positives`=20" in error.message
    assert not {"feature_selection", "fraud_model"} & {e.step_key for e in result.get_step_success_events()}
    # Refused before the split was recorded: no training dataset version exists.
    assert fraud_view.get_or_create(StorageResource().feature_store()).training_dataset_versions() == []
