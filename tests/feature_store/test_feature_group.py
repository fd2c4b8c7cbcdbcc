"""Feature groups: inserts (append, upsert, replace a time range), reads, time travel, errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store import (
    FeatureStore,
    InvalidInputError,
    NotFoundError,
    SchemaMismatchError,
    StatisticsConfig,
)

from .conftest import DAY0, transactions


def _group(store: FeatureStore, **kwargs):
    return store.get_or_create_feature_group(
        "transactions", primary_key=["tid"], event_time="datetime", **kwargs
    )


def test_group_is_lazy_until_the_first_insert(store: FeatureStore) -> None:
    fg = _group(store)
    with pytest.raises(NotFoundError, match="no data yet"):
        fg.read()
    with pytest.raises(NotFoundError, match="no feature group transactions v1"):
        store.get_feature_group("transactions")
    fg.insert(transactions(0))
    assert store.feature_groups() == [("transactions", 1)]
    assert store.get_feature_group("transactions").primary_key == ("tid",)


def test_insert_appends_then_upserts_on_key_and_event_time(store: FeatureStore) -> None:
    fg = _group(store)
    day0 = transactions(0)
    first = fg.insert(day0)
    assert (first["operation"], first["rows"], first["delta_version"]) == ("append", 40, 0)
    second = fg.insert(transactions(1))  # a new day cannot collide: fast append path
    assert second["operation"] == "append"

    changed = day0.head(3).assign(amount=[-1.0, -2.0, -3.0])
    moved = day0.head(1).assign(datetime=day0.datetime[0] + timedelta(seconds=1), amount=9.0)  # new event time
    result = fg.insert(pd.concat([changed, moved]))
    assert result["operation"] == "upsert"
    assert (result["rows_updated"], result["rows_inserted"]) == (3, 1)

    stored = fg.read()
    assert len(stored) == 81  # 40 + 40 + the moved row; the three changed rows replaced in place
    assert stored.set_index(["tid", "datetime"]).loc[(0, day0.datetime[0]), "amount"] == -1.0
    assert sorted(stored[stored.tid == 0].amount) == [-1.0, 9.0]  # history: both event times kept
    assert stored.datetime.is_monotonic_increasing


def test_duplicates_in_one_batch_keep_the_last_row(store: FeatureStore) -> None:
    fg = _group(store)
    day0 = transactions(0)
    batch = pd.concat([day0, day0.head(2).assign(amount=0.5)])
    assert fg.insert(batch)["duplicates_dropped"] == 2
    assert (fg.read().set_index("tid").loc[[0, 1], "amount"] == 0.5).all()


def test_replace_time_range_is_idempotent_and_leaves_other_days_alone(store: FeatureStore) -> None:
    fg = _group(store)
    for day in range(3):
        fg.insert(transactions(day), replace_time_range=(DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 1)))
    before = fg.read()
    day1 = (DAY0 + timedelta(days=1), DAY0 + timedelta(days=2))
    rerun = transactions(1, n=25, seed=7)  # a re-run that produces different (fewer) rows
    for _ in range(2):
        metrics = fg.insert(rerun, replace_time_range=day1)
        assert metrics["operation"] == "replace_time_range"
    after = fg.read()
    in_day1 = (after.datetime >= day1[0]) & (after.datetime < day1[1])
    assert len(after[in_day1]) == 25 and not after.duplicated(["tid", "datetime"]).any()
    pd.testing.assert_frame_equal(
        after[~in_day1].reset_index(drop=True),
        before[(before.datetime < day1[0]) | (before.datetime >= day1[1])].reset_index(drop=True),
    )
    assert list(after[in_day1].amount) == list(rerun.amount)


def test_replace_time_range_refuses_rows_outside_and_writes_nothing(store: FeatureStore) -> None:
    fg = _group(store)
    fg.insert(transactions(0))
    with pytest.raises(InvalidInputError, match="outside replace_time_range"):
        fg.insert(transactions(1), replace_time_range=(DAY0, DAY0 + timedelta(days=1)))
    assert fg.delta_version() == 0 and len(fg.read()) == 40


def test_schema_change_is_refused_with_a_new_version_hint(store: FeatureStore) -> None:
    fg = _group(store)
    fg.insert(transactions(0))
    with pytest.raises(SchemaMismatchError, match="version \\+ 1"):
        fg.insert(transactions(1).assign(extra=1))
    with pytest.raises(SchemaMismatchError, match="'amount' is stored as double"):
        fg.insert(transactions(1).assign(amount="12.5"))
    fg.insert(transactions(1).astype({"cc_num": "int32"}))  # a lossless cast is fine
    assert fg.delta_version() == 1
    with pytest.raises(SchemaMismatchError, match="version 2"):
        store.get_or_create_feature_group("transactions", primary_key=["tid", "cc_num"], event_time="datetime")
    v2 = store.get_or_create_feature_group("transactions", 2, primary_key=["tid"], event_time="datetime")
    v2.insert(transactions(1).assign(extra=1))
    assert "extra" in v2.column_names() and "extra" not in fg.column_names()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns=["datetime"]), "missing column"),
        (lambda df: df.assign(tid=df.tid.astype("Int64").where(df.index != 3)), "'tid' has 1 null"),
        (lambda df: df.assign(datetime="yesterday"), "must hold timestamps"),
        (lambda df: df.assign(__x=1), "reserved"),
    ],
)
def test_bad_batches_name_the_problem_and_store_nothing(store: FeatureStore, change, message) -> None:
    fg = _group(store)
    fg.insert(transactions(0))
    with pytest.raises(InvalidInputError, match=message):
        fg.insert(change(transactions(1)))
    assert fg.delta_version() == 0


def test_naive_times_are_utc_and_read_ranges_are_half_open(store: FeatureStore) -> None:
    fg = _group(store)
    df = transactions(0)
    fg.insert(df.assign(datetime=df.datetime.dt.tz_localize(None)))
    stored = fg.read()
    assert str(stored.datetime.dt.tz) == "UTC"
    t = stored.datetime[10]
    part = fg.read(t, stored.datetime[20])
    assert list(part.tid) == list(stored.tid[10:20])
    assert fg.read(start_time=str(t.tz_localize(None))).tid.tolist() == stored.tid[10:].tolist()


def test_reading_one_day_only_opens_that_days_files(store: FeatureStore) -> None:
    fg = _group(store)
    for day in range(5):
        fg.insert(transactions(day))
    snapshot = fg.snapshot()
    from fraud_pipelines.feature_store.offline_store import TimeRange

    assert len(snapshot.files("datetime")) == 5
    one_day = TimeRange(start=DAY0 + timedelta(days=2), end=DAY0 + timedelta(days=3))
    assert len(snapshot.files("datetime", one_day)) == 1
    assert len(fg.read(one_day.start, one_day.end)) == 40


def test_partitioned_group_round_trips_its_partition_column(store: FeatureStore) -> None:
    fg = store.get_or_create_feature_group("tx_by_day", primary_key=["tid"], event_time="datetime", partition_key="day")
    df = pd.concat([transactions(d) for d in range(3)])
    df["day"] = df.datetime.dt.date
    fg.insert(df)
    stored = fg.read(DAY0 + timedelta(days=1), DAY0 + timedelta(days=2))
    assert set(stored.day) == {(DAY0 + timedelta(days=1)).date()} and len(stored) == 40
    assert len(fg.snapshot().files("datetime")) == 3
    with pytest.raises(InvalidInputError, match="partition column 'amount'"):
        store.get_or_create_feature_group("bad", primary_key=["tid"], event_time="datetime",
                                          partition_key="amount").insert(transactions(0))


def test_time_travel_and_commit_details(store: FeatureStore) -> None:
    fg = _group(store)
    fg.insert(transactions(0))
    fg.insert(transactions(0).head(5).assign(amount=0.0))
    assert len(fg.read(version=0)) == 40 and (fg.read(version=0).amount > 0).all()
    assert (fg.read().amount == 0.0).sum() == 5
    details = fg.commit_details()
    assert list(details) == [1, 0]
    assert details[0]["rows_inserted"] == 40 and details[1]["rows_updated"] == 5
    with pytest.raises(NotFoundError):
        fg.read(version=7)


def test_as_of_returns_each_keys_latest_row_before_t(store: FeatureStore) -> None:
    fg = _group(store)
    df = pd.concat([transactions(0), transactions(1)])
    fg.insert(df)
    t = DAY0 + timedelta(days=1, hours=6)
    got = fg.as_of(t, by=["cc_num"])
    past = df[df.datetime <= t].sort_values(["datetime", "tid"])
    expected = past.groupby("cc_num").tail(1).sort_values("cc_num")
    assert got.tid.tolist() == expected.tid.tolist()
    assert list(got.columns) == fg.column_names()
    recent = fg.as_of(t, by=["cc_num"], lookback=timedelta(hours=4))
    assert 0 < len(recent) < len(got) and set(recent.tid) <= set(got.tid)
    assert recent.datetime.min() >= t - timedelta(hours=4)
    by_pk = fg.as_of(t, columns=["amount"])
    assert list(by_pk.columns) == ["tid", "amount"] and len(by_pk) == len(past)


def test_statistics_are_stored_per_commit(store: FeatureStore) -> None:
    fg = _group(store, statistics_config=StatisticsConfig(histograms=("amount", "category"), bins=5))
    day0 = transactions(0)
    fg.insert(day0)
    fg.insert(transactions(1).assign(amount=None).astype({"amount": "float64"}))
    first, latest = fg.statistics(version=0), fg.statistics()
    assert first["delta_version"] == 0 and latest["delta_version"] == 1
    amount = first["columns"]["amount"]
    assert amount["min"] == day0.amount.min() and amount["max"] == day0.amount.max()
    assert amount["mean"] == pytest.approx(day0.amount.mean()) and amount["std"] == pytest.approx(day0.amount.std())
    assert sum(amount["histogram"]["counts"]) == 40 and len(amount["histogram"]["edges"]) == 6
    assert sum(first["columns"]["category"]["histogram"]["counts"]) == 40
    assert first["columns"]["cc_num"]["approx_distinct_count"] == day0.cc_num.nunique()
    assert latest["columns"]["amount"]["completeness"] == 0.0


def test_file_uri_root_and_arrow_input(tmp_path) -> None:
    store = FeatureStore(f"file://{tmp_path}/uri_store")
    fg = _group(store)
    fg.insert(pa.Table.from_pandas(transactions(0), preserve_index=False))
    assert len(store.get_feature_group("transactions").read()) == 40
    assert (tmp_path / "uri_store" / "offline" / "transactions_v1" / "_delta_log").is_dir()


def test_delta_scan_read_path_matches_duckdb_parquet_path(store: FeatureStore) -> None:
    """The object-store read path (delta-rs scan) gives the same rows as the local one."""
    fg = _group(store)
    for day in range(3):
        fg.insert(transactions(day))
    from fraud_pipelines.feature_store.offline_store import TimeRange, connect

    window = TimeRange(start=DAY0 + timedelta(hours=12), end=DAY0 + timedelta(days=1, hours=12))
    frames = []
    for engine in ("duckdb_parquet", "delta_scan"):
        con = connect()
        fg.snapshot().register(con, "t", event_time="datetime", time_range=window, engine=engine)
        frames.append(con.sql("SELECT * FROM t ORDER BY tid").df())
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == len(fg.read(window.start, window.end))


def _write_group(root: str, name: str) -> None:
    store = FeatureStore(root)
    fg = store.get_or_create_feature_group(name, primary_key=["tid"], event_time="datetime")
    for day in range(3):
        fg.insert(transactions(day))


def test_two_processes_write_different_groups_at_once(tmp_path) -> None:
    root = str(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_group, args=(root, name)) for name in ("left", "right")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    store = FeatureStore(root)
    assert store.feature_groups() == [("left", 1), ("right", 1)]
    assert [len(store.get_feature_group(n).read()) for n in ("left", "right")] == [120, 120]


def test_empty_batches_write_nothing_but_an_empty_replacement_clears_the_range(store: FeatureStore) -> None:
    fg = _group(store)
    fg.insert(pd.concat([transactions(0), transactions(1)]))
    assert fg.insert(transactions(1).head(0))["operation"] == "none" and fg.delta_version() == 0
    fg.insert(transactions(1).head(0), replace_time_range=(DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)))
    assert len(fg.read()) == 40 and fg.read().datetime.max() < DAY0 + timedelta(days=1)


def test_bad_statistics_config_is_refused_before_anything_is_written(store: FeatureStore) -> None:
    fg = _group(store, statistics_config=StatisticsConfig(histograms=("amout",)))
    with pytest.raises(InvalidInputError, match="unknown column"):
        fg.insert(transactions(0))
    assert not fg.commit_details()


def test_get_or_create_keeps_settings_that_are_not_given(store: FeatureStore) -> None:
    _group(store, description="charges", online_enabled=True).insert(transactions(0))
    again = _group(store)  # description and online flag left out: the stored ones stay
    assert again.description == "charges" and again.online_enabled
    assert _group(store, description="card charges").description == "card charges"
    assert store.get_feature_group("transactions").description == "card charges"



def test_an_online_group_can_be_turned_offline_only_and_its_online_rows_go(store: FeatureStore) -> None:
    fg = _group(store, online_enabled=True)
    fg.insert(transactions(0))
    first = fg.read().tid.iloc[0]
    assert store.online_store.read(fg.online_table(), [(int(first),)], ["amount"])[0] is not None
    offline_only = _group(store, online_enabled=False)
    assert not offline_only.online_enabled and not store.get_feature_group("transactions").online_enabled
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store.online_store.read(fg.online_table(), [(int(first),)], ["amount"])
    assert offline_only.insert(transactions(1))["online_rows"] == 0 and len(offline_only.read()) == 80
    with pytest.raises(SchemaMismatchError, match="online_enabled"):
        _group(store, online_enabled=True)  # back online would serve keys it never wrote
