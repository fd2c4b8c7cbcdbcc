"""Training dataset versions materialized at creation: their splits stored once as Delta tables and
read back bit for bit as the join gives them (same Arrow table, types and order), with filters and
time splits, on both join engines; versions without rows keep working; write-audit-publish; erasure."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from fraud_pipelines.feature_store import FeatureStore, FeatureStoreError, NotFoundError
from fraud_pipelines.feature_store.frozen_splits import read_split, write_split
from fraud_pipelines.feature_store.training_dataset import TrainingDatasetVersion

from .conftest import DAY0, build_fraud_like

TRANSFORMS = {"amount": "min_max_scaler", "category": "one_hot_encoder", "profile_city": "label_encoder"}
SPLITS = ("train", "validation", "test")


def _day(n: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def _three_way(view, *, materialize: bool) -> int:
    return view.create_train_validation_test_split(
        train_end=_day(2), validation_start=_day(2), validation_end=_day(3), test_start=_day(3), test_end=_day(6),
        materialize=materialize)


@pytest.fixture(params=["arrays", "duckdb"])
def engine_store(request, tmp_path) -> FeatureStore:
    return FeatureStore(tmp_path / "store", join_engine=request.param)


@pytest.mark.parametrize("filtered", [False, True], ids=["all rows", "filtered"])
def test_a_materialized_version_reads_what_the_join_gives_bit_for_bit(engine_store, filtered, tmp_path):
    case = build_fraud_like(engine_store)
    query, groups = case["query"], case["groups"]
    if filtered:
        query = query.filter((groups["aggs"]["tx_count"] >= 3) | groups["tx"]["category"].isin(["Cash"]))
    view = engine_store.get_or_create_feature_view("fraud", query=query, labels=["is_fraud"],
                                                   transformation_functions=TRANSFORMS)
    stored, joined = _three_way(view, materialize=True), _three_way(view, materialize=False)
    stored_record, joined_record = view.get_training_dataset(stored), view.get_training_dataset(joined)
    assert set(stored_record.frozen) == set(SPLITS) and joined_record.frozen == {}
    assert stored_record.delta_versions == joined_record.delta_versions
    assert stored_record.transformations == joined_record.transformations
    assert stored_record.row_counts == joined_record.row_counts and min(stored_record.row_counts.values()) > 0

    for name in SPLITS:  # the Arrow tables: schema (metadata included), values and order
        from_copy, from_join = view._split_rows(stored_record, name), view._split_rows(joined_record, name)
        assert from_copy.schema.equals(from_join.schema, check_metadata=True)
        assert from_copy.equals(from_join, check_metadata=True), name
    options = {"primary_key": True, "event_time": True}
    for a, b in zip(view.get_train_validation_test_split(stored, **options),
                    view.get_train_validation_test_split(joined, **options)):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)
    assert view.get_train_validation_test_split(stored)[0].columns.tolist()[:1] == ["category_Cash"]

    # The copy is what is read: with every feature group's table gone, only the materialized version reads.
    expected = view.get_train_validation_test_split(joined, **options)[0]
    shutil.rmtree(tmp_path / "store" / "offline")
    reopened = FeatureStore(tmp_path / "store").get_feature_view("fraud")
    pd.testing.assert_frame_equal(reopened.get_train_validation_test_split(stored, **options)[0], expected,
                                  check_exact=True)
    with pytest.raises(NotFoundError, match="has no data yet"):
        reopened.get_train_validation_test_split(joined)


def test_one_shot_training_data_and_single_splits_are_stored_too(store: FeatureStore) -> None:
    case = build_fraud_like(store)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"],
                                            transformation_functions=TRANSFORMS)
    x, y = view.training_data(end_time=_day(3), primary_key=True)
    record = view.get_training_dataset(view.last_training_dataset_version)
    assert list(record.frozen) == ["train"]
    again_x, again_y = view.get_training_data(record.version, primary_key=True)
    pd.testing.assert_frame_equal(again_x, x, check_exact=True)
    pd.testing.assert_series_equal(again_y, y, check_exact=True)
    split = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    assert set(view.get_training_dataset(split).frozen) == {"train", "test"}
    unstored = view.create_training_data(end_time=_day(3), materialize=False)
    pd.testing.assert_frame_equal(view.get_training_data(unstored, primary_key=True)[0], x, check_exact=True)


def test_a_version_recorded_before_copies_existed_still_reads() -> None:
    old = {"feature_view": "fraud", "feature_view_version": 1, "version": 3, "delta_versions": {"t_v1": 2},
           "splits": {"train": {"start": None, "end": "2024-03-03T00:00:00+00:00"}}}
    record = TrainingDatasetVersion.from_dict(old)
    assert record.frozen == {} and record.erasures == [] and record.to_dict()["frozen"] == {}


def test_the_split_file_keeps_any_arrow_schema_and_a_given_order(tmp_path) -> None:
    rows = pa.table({
        "tid": pa.array(np.arange(50, dtype=np.int64)),
        "small": pa.array(np.arange(50) % 7, pa.int8()),
        "mid": pa.array(np.arange(50) % 300, pa.int16()),
        "big_text": pa.array([None if i % 9 == 0 else f"t{i}" for i in range(50)], pa.large_string()),
        "text": pa.array([f"s{i % 4}" for i in range(50)], pa.string()),
        "when": pa.array(pd.date_range("2024-01-01", periods=50, freq="37min", tz="UTC"), pa.timestamp("us", "UTC")),
        "day": pa.array([d.date() for d in pd.date_range("2024-01-01", periods=50)], pa.date32()),
        "flag": pa.array([i % 3 == 0 for i in range(50)]),
        "value": pa.array(np.linspace(-1, 1, 50), pa.float32()),
    }).replace_schema_metadata({b"origin": b"join"})
    order = np.random.default_rng(3).permutation(50)
    assert write_split(str(tmp_path / "s"), rows, order=order, chunk_rows=7) == 50
    back = read_split(str(tmp_path / "s"))
    assert back.equals(rows.take(order), check_metadata=True)
    with pytest.raises(Exception, match="already exists"):  # never clobbered by a creation
        write_split(str(tmp_path / "s"), rows)
    # Files rewritten out of order (a Z-order compaction): the read still follows the stored order.
    DeltaTable(str(tmp_path / "s")).optimize.z_order(["value"])
    assert read_split(str(tmp_path / "s")).equals(rows.take(order), check_metadata=True)
    empty = rows.slice(0, 0)
    write_split(str(tmp_path / "e"), empty)
    assert read_split(str(tmp_path / "e"), expected_rows=0).equals(empty, check_metadata=True)


class FailingFit:
    """A transformation whose fit refuses its data: creation stops after the train split was stored."""

    def fit(self, values: pd.Series) -> FailingFit:
        raise ValueError("no fit on these values")

    def transform(self, values: pd.Series) -> pd.Series:
        return values


def test_a_creation_that_fails_records_nothing_and_leaves_no_copy(store: FeatureStore, tmp_path) -> None:
    case = build_fraud_like(store)
    store.register_transformation("failing", FailingFit)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"],
                                            transformation_functions={"amount": "failing"})
    with pytest.raises(ValueError, match="no fit"):
        _three_way(view, materialize=True)
    assert view.training_dataset_versions() == []
    folder = tmp_path / "store" / "frozen_training_data" / "fraud_v1"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_copy_changed_behind_the_stores_back_is_not_read(store: FeatureStore) -> None:
    case = build_fraud_like(store)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"])
    version = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    uri = view.get_training_dataset(version).frozen["test"]
    one = read_split(uri).slice(0, 1).append_column("__row", pa.array([10**6], pa.int64()))
    write_deltalake(uri, one, mode="append")
    with pytest.raises(FeatureStoreError, match=r"holds \d+ row\(s\) where its training dataset version recorded"):
        view.get_train_test_split(version)


def test_a_stored_split_removed_by_hand_is_a_clear_error(store: FeatureStore) -> None:
    case = build_fraud_like(store)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"])
    version = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    uri = view.get_training_dataset(version).frozen["test"]
    shutil.rmtree(uri)
    with pytest.raises(NotFoundError, match=rf"version {version}'s stored test rows are missing at .*test .*"
                                            "create a new training dataset version"):
        view.get_train_test_split(version)
    assert len(view.get_training_dataset(version).frozen) == 2  # the record is untouched


def test_erasure_removes_the_rows_from_a_materialized_version_for_good(store: FeatureStore, tmp_path) -> None:
    case = build_fraud_like(store)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"],
                                            transformation_functions=TRANSFORMS)
    stored, joined = _three_way(view, materialize=True), _three_way(view, materialize=False)
    before = {v: view.get_train_validation_test_split(v, primary_key=True) for v in (stored, joined)}
    record = view.get_training_dataset(stored)
    tids = case["labels"].groupby(case["labels"].datetime.dt.day).tid.first().tolist()  # one charge per day

    removed = view.erase_from_training_data("tid", tids, reason="test")
    assert removed[stored] == removed[joined] and sum(removed[stored].values()) == len(tids)
    after = view.get_training_dataset(stored)
    assert after.frozen == record.frozen  # rewritten where they are
    assert after.erasures[-1]["rows_removed"] == removed[stored]
    for v in (stored, joined):
        xs_before, xs_after = before[v][:3], view.get_train_validation_test_split(v, primary_key=True)[:3]
        for old, new in zip(xs_before, xs_after):
            pd.testing.assert_frame_equal(new, old[~old.tid.isin(tids)].reset_index(drop=True), check_exact=True)
    for uri in after.frozen.values():  # no data file of the copy, current or old, holds an erased charge
        with pytest.raises(Exception, match="No files in log segment"):  # the version as created is gone
            DeltaTable(uri, version=0)
        files = list(Path(uri).rglob("*.parquet"))
        assert files and all(not set(tids) & set(pq.read_table(f, columns=["tid"])["tid"].to_pylist())
                             for f in files if "_delta_log" not in f.parts)
    assert view.erase_from_training_data("tid", tids, reason="again")[stored] == {s: 0 for s in SPLITS}


def test_a_split_frozen_before_schemas_were_kept_reads_as_before(tmp_path) -> None:
    """Splits frozen by an erasure before this format kept the Arrow schema: a `__row` column, no description."""
    rows = pa.table({"tid": pa.array([30, 10, 20], pa.int64()), "category": ["Grocery", None, "Other"],
                     "amount": [1.5, 2.25, 3.0]})
    write_deltalake(str(tmp_path / "old"), rows.append_column("__row", pa.array([0, 1, 2], pa.int64())).take([2, 0, 1]))
    assert read_split(str(tmp_path / "old"), expected_rows=3).equals(rows)
