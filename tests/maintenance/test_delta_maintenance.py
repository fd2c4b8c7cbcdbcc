"""Delta maintenance on real tables: the vacuum removes replaced files, except those of versions a
training dataset re-reads by its join, which stay readable bit for bit; a dataset with stored rows
pins nothing and reads the same after the vacuum; stored rows of a version never recorded go once
old enough; files and log are reported."""

from __future__ import annotations

import os
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store.frozen_splits import new_draft_id, split_uri, write_split
from fraud_pipelines.features import day_lineage, groups
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.maintenance.assets import delta_maintenance
from fraud_pipelines.maintenance.delta_tables import stored_files
from fraud_pipelines.maintenance.pins import offline_uri, pinned_versions
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.settings import start_date
from fraud_pipelines.training import fraud_view

SMALL = dict(n_cards=300, transactions_per_day=300, horizon_days=8, seed=29, fraud_rate=0.03)
RANGE = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-03"}


def materialize(assets, **kwargs):
    result = dg.materialize(assets, resources={"storage": StorageResource(), "raw_source": RawSourceResource(**SMALL)},
                            **kwargs)
    assert result.success
    return result


def dataset(view, version: int) -> pd.DataFrame:
    x, y = view.get_training_data(version, primary_key=True, event_time=True)
    return pd.concat([x, y], axis=1)


def train_and_test(view, version: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    x_train, x_test, y_train, y_test = view.get_train_test_split(version, primary_key=True, event_time=True)
    return pd.concat([x_train, y_train], axis=1), pd.concat([x_test, y_test], axis=1)


def assert_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for column in a.columns:
        if a[column].dtype == np.float64:
            assert np.array_equal(a[column].to_numpy().view(np.int64), b[column].to_numpy().view(np.int64)), column


def test_vacuum_keeps_every_pinned_training_dataset_readable_and_bit_identical():
    materialize([*RAW_ASSETS, *FEATURE_ASSETS], tags=RANGE)
    fs = StorageResource().feature_store()
    view = fraud_view.get_or_create(fs)
    first = view.create_training_data(description="pinned before the rewrites", materialize=False)
    pinned_first = dataset(view, first)
    for _ in range(3):  # every rebuild replaces the groups' files: versions nobody pins
        materialize(FEATURE_ASSETS, tags=RANGE)
    second = view.create_training_data(description="pinned after them", materialize=False)
    pinned_second = dataset(view, second)
    materialize(FEATURE_ASSETS, tags=RANGE)  # the current version is pinned by nobody

    transactions = offline_uri(fs, "transactions_v1")
    pins = pinned_versions(fs)
    recorded = {view.get_training_dataset(v).delta_versions["transactions_v1"] for v in (first, second)}
    assert pins[transactions] == recorded and len(recorded) == 2
    unpinned = next(v for v in range(min(recorded) + 1, max(recorded)) if v not in recorded)
    files_before, _ = stored_files(transactions)
    current = groups.TRANSACTIONS.get_or_create(fs).read()

    result = materialize([delta_maintenance],
                         run_config={"ops": {"delta_maintenance": {"config": {"retention_hours": 0}}}})

    files_after, _ = stored_files(transactions)
    assert files_after < files_before  # replaced files went
    assert_bits(dataset(view, first), pinned_first)  # pinned versions stayed whole
    assert_bits(dataset(view, second), pinned_second)
    assert_bits(groups.TRANSACTIONS.get_or_create(fs).read(), current)
    with pytest.raises(Exception, match=r"(?i)no such file|not found|does not exist|no files found"):  # unpinned: gone
        groups.TRANSACTIONS.get_or_create(fs).read(version=unpinned)
    assert day_lineage.stale_days(StorageResource(), start_date()) == {}  # raw files untouched
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["files_vacuumed"].value > 0 and meta["table_count"].value >= 7
    assert "feature_store/offline/transactions_v1" in meta["tables"].value


def test_stored_datasets_pin_nothing_and_drafts_never_recorded_go_once_old():
    materialize([*RAW_ASSETS, *FEATURE_ASSETS], tags=RANGE)
    fs = StorageResource().feature_store()
    view = fraud_view.get_or_create(fs)
    stored = view.create_train_test_split(train_end="2025-01-02", test_start="2025-01-02", description="stored")
    before = train_and_test(view, stored)
    record = view.get_training_dataset(stored)
    recorded_folder = next(iter(record.frozen.values())).rsplit("/", 1)[0]
    for _ in range(2):
        materialize(FEATURE_ASSETS, tags=RANGE)  # replaced files
    joined = view.create_training_data(description="joined", materialize=False)
    materialize(FEATURE_ASSETS, tags=RANGE)  # only the joined dataset's version is pinned
    transactions = offline_uri(fs, "transactions_v1")
    assert pinned_versions(fs)[transactions] == {view.get_training_dataset(joined).delta_versions["transactions_v1"]}
    stored_version = record.delta_versions["transactions_v1"]

    rows = groups.TRANSACTIONS.get_or_create(fs).read().head(50)  # two creations killed before recording
    old, fresh = (split_uri(fs.root, view.name, view.version, new_draft_id(), "train") for _ in range(2))
    for uri in (old, fresh):
        write_split(uri, pa.Table.from_pandas(rows, preserve_index=False))
    two_days_ago = time.time() - 48 * 3600
    for folder, _, files in os.walk(old.rsplit("/", 1)[0]):
        for name in files:
            os.utime(os.path.join(folder, name), (two_days_ago, two_days_ago))

    result = materialize([delta_maintenance],
                         run_config={"ops": {"delta_maintenance": {"config": {"retention_hours": 0}}}})

    assert not os.path.exists(old.rsplit("/", 1)[0])  # old and never recorded: gone
    assert os.path.exists(fresh) and os.path.exists(recorded_folder)  # a creation may be under way; recorded
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["stale_drafts_removed"].value == [old.rsplit("/", 1)[0][len(
        StorageResource().location.rstrip("/")) + 1:]]
    with pytest.raises(Exception, match=r"(?i)no such file|not found|does not exist|no files found"):
        groups.TRANSACTIONS.get_or_create(fs).read(version=stored_version)  # its Delta version went ...
    for after, expected in zip(train_and_test(view, stored), before):  # ... its rows did not
        assert_bits(after, expected)
