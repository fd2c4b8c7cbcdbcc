"""The SQLite online store: latest row per key, never back in time, exact type round trips."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store import FeatureStore, OnlineTableSpec, SchemaMismatchError, SQLiteOnlineStore

from .conftest import DAY0, transactions

UTC = dt.timezone.utc
SCHEMA = pa.schema(
    [
        ("card", pa.int64()),
        ("t", pa.timestamp("us", tz="UTC")),
        ("limit", pa.float64()),
        ("city", pa.string()),
        ("born", pa.date32()),
        ("vip", pa.bool_()),
    ]
)
SPEC = OnlineTableSpec(name="cards_v1", key_columns=("card",), event_time="t", schema=SCHEMA)


def _rows(*rows: tuple) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in rows], schema=SCHEMA)


def _t(hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, hour, 0, 0, 123456, tzinfo=UTC)


def test_latest_row_per_key_and_exact_types(tmp_path) -> None:
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    store.update(SPEC)
    offered = store.write_batch(SPEC, _rows(
        (1, _t(1), 10.0, "Oslo", dt.date(1980, 5, 1), True),
        (1, _t(3), 30.0, "Rome", dt.date(1980, 5, 1), False),
        (2, _t(2), None, None, None, None),
    ))
    assert offered == 2  # one row per key reaches the store
    got = store.read(SPEC, [(1,), (2,), (3,)], ["t", "limit", "city", "born", "vip"])
    assert got == [(_t(3), 30.0, "Rome", dt.date(1980, 5, 1), False), (_t(2), None, None, None, None), None]
    assert store.lookup(SPEC, ["city", "t"])((1,)) == ("Rome", _t(3))
    assert store.lookup(SPEC, ["limit"])((9,)) is None


def test_never_goes_back_in_time_and_replays_are_harmless(tmp_path) -> None:
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    newest = _rows((1, _t(5), 50.0, "Lima", None, True))
    store.write_batch(SPEC, newest)
    store.write_batch(SPEC, _rows((1, _t(4), 40.0, "Kyiv", None, False)))  # late, older batch
    assert store.read(SPEC, [(1,)], ["limit", "city"]) == [(50.0, "Lima")]
    store.write_batch(SPEC, newest)  # replay
    assert store.read(SPEC, [(1,)], ["limit"]) == [(50.0,)]
    store.write_batch(SPEC, _rows((1, _t(5), 55.0, "Lima", None, True)))  # same event time: an upsert
    assert store.read(SPEC, [(1,)], ["limit"]) == [(55.0,)]


def test_layout_change_is_refused_and_teardown_drops(tmp_path) -> None:
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    store.update(SPEC)
    other = OnlineTableSpec(name="cards_v1", key_columns=("card",), event_time="t",
                            schema=SCHEMA.append(pa.field("extra", pa.int64())))
    with pytest.raises(SchemaMismatchError, match="another layout"):
        SQLiteOnlineStore(tmp_path / "online.sqlite").update(other)
    store.teardown(SPEC)
    store.update(other)  # a fresh table may take the new layout


def test_many_keys_read_in_chunks_keeps_order_and_composite_keys(tmp_path) -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("t", pa.timestamp("us", tz="UTC")), ("v", pa.int64())])
    spec = OnlineTableSpec(name="pairs_v1", key_columns=("a", "b"), event_time="t", schema=schema)
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    rows = pa.Table.from_pylist(
        [{"a": i, "b": str(i % 3), "t": _t(1), "v": i * 10} for i in range(1200)], schema=schema
    )
    store.write_batch(spec, rows)
    keys = [(i, str(i % 3)) for i in reversed(range(1300))]
    got = store.read(spec, keys, ["v"])
    assert got[:3] == [None] * 3 and got[-1] == (0,) and got[100] == (1199 * 10,)
    assert sum(r is not None for r in got) == 1200


def test_online_group_insert_keeps_latest_and_ignores_late_batches(store: FeatureStore) -> None:
    fg = store.get_or_create_feature_group("cards", primary_key=["cc_num"], event_time="datetime", online_enabled=True)
    df = transactions(1).drop(columns=["tid"]).drop_duplicates("cc_num", keep="last")
    fg.insert(df)
    late = df.assign(datetime=DAY0, amount=-1.0)  # older event times, arriving later
    fg.insert(late)
    online = store.online_store.read(fg.online_table(), [(int(k),) for k in df.cc_num], ["amount"])
    assert [r[0] for r in online] == df.amount.tolist()
    assert len(fg.read()) == 2 * len(df)  # offline keeps both
    pd.testing.assert_series_equal(
        fg.as_of(DAY0 + pd.Timedelta(days=3)).amount, df.sort_values("cc_num").amount.reset_index(drop=True)
    )


def test_joined_lookup_reads_several_tables_in_one_select(tmp_path) -> None:
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    other = OnlineTableSpec(name="limits_v1", key_columns=("card",), event_time="t",
                            schema=pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                              ("limit", pa.float64())]))
    store.write_batch(SPEC, _rows((1, _t(1), 10.0, "Oslo", dt.date(1980, 5, 1), True),
                                  (4, _t(1), None, None, None, None)))
    store.write_batch(other, pa.Table.from_pylist([{"card": 2, "t": _t(2), "limit": 5.5},
                                                   {"card": 4, "t": _t(2), "limit": None}], schema=other.schema))
    fetch = store.joined_lookup([(SPEC, ["city", "born", "vip"]), (other, ["limit", "t"])])
    assert fetch((1,)) == [("Oslo", dt.date(1980, 5, 1), True), None]
    assert fetch((2,)) == [None, (5.5, _t(2))]
    assert fetch((3,)) == [None, None]
    assert fetch((4,)) == [(None, None, None), (None, _t(2))]  # a row of nulls is a row, not a missing one
    alone = [store.lookup(SPEC, ["city", "born", "vip"]), store.lookup(other, ["limit", "t"])]
    for key in [(1,), (2,), (3,), (4,)]:  # the same answers as one lookup per table
        assert fetch(key) == [lookup(key) for lookup in alone]

def test_prepared_batch_reader_equals_read(tmp_path) -> None:
    """`batch_lookup` (the batch vectors' reader) answers as `read`: decoded types, repeated and
    absent keys, more keys than one SELECT takes, composite keys."""
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    store.write_batch(SPEC, _rows((1, _t(1), 10.0, "Oslo", dt.date(1990, 5, 17), True),
                                  (2, _t(2), None, None, None, False)))
    keys = [(2,), (3,), (1,), (2,)] * 200
    columns = ["limit", "city", "born", "vip", "t"]
    assert store.batch_lookup(SPEC, columns)(keys) == store.read(SPEC, keys, columns)
    assert store.batch_lookup(SPEC, ["vip"])(keys[:3]) == [(False,), None, (True,)]
    values = [k[0] for k in keys]  # the one-column key as plain values: decoded and plain columns
    assert store.value_lookup(SPEC, columns)(values) == store.read(SPEC, keys, columns)
    assert store.value_lookup(SPEC, ["limit"])(values) == store.read(SPEC, keys, ["limit"])
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("t", pa.timestamp("us", tz="UTC")), ("v", pa.int64())])
    pairs = OnlineTableSpec(name="pairs_v1", key_columns=("a", "b"), event_time="t", schema=schema)
    store.write_batch(pairs, pa.Table.from_pylist([{"a": i, "b": str(i % 3), "t": _t(1), "v": i} for i in range(700)],
                                                  schema=schema))
    wanted = [(i, str(i % 3)) for i in reversed(range(750))] + [(5, "0")]
    got = store.batch_lookup(pairs, ["v"])(wanted)
    assert got == store.read(pairs, wanted, ["v"])
    assert got[:50] == [None] * 50 and got[-2] == (0,) and got[-1] is None
