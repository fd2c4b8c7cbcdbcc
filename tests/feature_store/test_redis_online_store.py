"""The Redis online store against a real redis-server: the same answers as the SQLite store for
the same writes (latest row per key, never back in time, exact types), layouts, teardown, and
a feature view served from Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from serving.processes import redis_server

from fraud_pipelines.feature_store import FeatureStore, OnlineTableSpec, SchemaMismatchError, SQLiteOnlineStore
from fraud_pipelines.feature_store.errors import InvalidInputError
from fraud_pipelines.feature_store.redis_online_store import RedisOnlineStore

UTC = dt.timezone.utc
SCHEMA = pa.schema([
    ("card", pa.int64()),
    ("t", pa.timestamp("us", tz="UTC")),
    ("limit", pa.float64()),
    ("city", pa.string()),
    ("born", pa.date32()),
    ("vip", pa.bool_()),
    ("seen", pa.timestamp("us")),
    ("blob", pa.binary()),
])
SPEC = OnlineTableSpec(name="cards_v1", key_columns=("card",), event_time="t", schema=SCHEMA)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_store(redis_url, request):
    """A store in its own namespace, so tests never see each other's rows."""
    store = RedisOnlineStore(redis_url, namespace=f"t{abs(hash(request.node.nodeid))}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "redis"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        yield SQLiteOnlineStore(tmp_path / "online.sqlite")
    else:
        yield request.getfixturevalue("redis_store")


def _t(hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, hour, 0, 0, 123456, tzinfo=UTC)


def _rows(*rows: tuple) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in rows], schema=SCHEMA)


def test_latest_row_per_key_exact_types_and_nulls(any_store):
    tricky = [0.1 + 0.2, 1e-310, -math.pi * 1e300, 5e-324]  # (SQLite turns -0.0 into 0.0)
    any_store.update(SPEC)
    offered = any_store.write_batch(SPEC, _rows(
        (1, _t(1), 10.0, "Oslo", dt.date(1980, 5, 1), True, dt.datetime(2020, 1, 1, 1, 2, 3, 4), b"\x00\xff"),
        (1, _t(3), tricky[0], "Zürich: 東京", dt.date(1969, 12, 31), False, None, b""),
        (2, _t(2), None, None, None, None, None, None),
        *[(10 + i, _t(1), value, "", None, None, None, None) for i, value in enumerate(tricky)],
    ))
    assert offered == 6
    got = any_store.read(SPEC, [(1,), (2,), (3,)], ["t", "limit", "city", "born", "vip", "seen", "blob"])
    assert got == [(_t(3), tricky[0], "Zürich: 東京", dt.date(1969, 12, 31), False, None, b""),
                   (_t(2), None, None, None, None, None, None), None]
    floats = [row[0] for row in any_store.read(SPEC, [(10 + i,) for i in range(4)], ["limit"])]
    assert np.array(floats).view(np.int64).tolist() == np.array(tricky).view(np.int64).tolist()  # bit for bit
    fetch = any_store.lookup(SPEC, ["city", "t", "limit"])
    assert fetch((1,)) == ("Zürich: 東京", _t(3), tricky[0]) and fetch((9,)) is None


def test_never_goes_back_in_time_and_replays_are_harmless(any_store):
    newest = _rows((1, _t(5), 50.0, "Lima", None, True, None, None))
    any_store.write_batch(SPEC, newest)
    any_store.write_batch(SPEC, _rows((1, _t(4), 40.0, "Kyiv", None, False, None, None)))  # late, older
    assert any_store.read(SPEC, [(1,)], ["limit", "city"]) == [(50.0, "Lima")]
    any_store.write_batch(SPEC, newest)
    any_store.write_batch(SPEC, _rows((1, _t(5), 55.0, None, None, True, None, None)))  # same time: replaces
    assert any_store.read(SPEC, [(1,)], ["limit", "city"]) == [(55.0, None)]  # a null clears the old value


def test_many_keys_in_chunks_keep_order_and_composite_keys(any_store):
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("t", pa.timestamp("us", tz="UTC")), ("v", pa.int64())])
    spec = OnlineTableSpec(name="pairs_v1", key_columns=("a", "b"), event_time="t", schema=schema)
    rows = pa.Table.from_pylist([{"a": i, "b": f"x|{i % 3}", "t": _t(1), "v": i * 10} for i in range(2_500)],
                                schema=schema)
    assert any_store.write_batch(spec, rows) == 2_500
    keys = [(i, f"x|{i % 3}") for i in range(2_499, -1, -7)] + [(1, "x|2"), (5, "nope")]
    got = any_store.read(spec, keys, ["v"])
    assert got[:-2] == [(a * 10,) for a, _ in keys[:-2]] and got[-2:] == [None, None]
    assert any_store.lookup(spec, ["v", "b"])((7, "x|1")) == (70, "x|1")


def test_layout_change_refused_and_teardown_drops_rows(redis_store, redis_url):
    redis_store.update(SPEC)
    redis_store.write_batch(SPEC, _rows(*[(i, _t(1), 1.0, "a", None, None, None, None) for i in range(2_100)]))
    other = OnlineTableSpec(name="cards_v1", key_columns=("card",), event_time="t",
                            schema=SCHEMA.append(pa.field("extra", pa.int64())))
    same_namespace = RedisOnlineStore(redis_url, namespace=redis_store.namespace)
    with pytest.raises(SchemaMismatchError, match="another layout"):
        same_namespace.update(other)
    elsewhere = RedisOnlineStore(redis_url, namespace=redis_store.namespace + "x")
    elsewhere.update(other)  # another namespace is another store
    redis_store.teardown(SPEC)
    assert redis_store.read(SPEC, [(0,), (2_099,)], ["limit"]) == [None, None]
    assert not list(redis_store._client.scan_iter(match=f"{redis_store.namespace}:cards_v1:*"))
    same_namespace.update(other)  # a dropped table may take a new layout


def test_types_it_cannot_store_and_bad_settings_are_refused(redis_store, redis_url):
    listed = OnlineTableSpec(name="lists_v1", key_columns=("k",), event_time="t",
                             schema=pa.schema([("k", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                               ("xs", pa.list_(pa.int64()))]))
    with pytest.raises(SchemaMismatchError, match="'xs' of type list"):
        redis_store.update(listed)
    by_text = OnlineTableSpec(name="texts_v1", key_columns=("k",), event_time="t",
                              schema=pa.schema([("k", pa.int64()), ("t", pa.string())]))
    with pytest.raises(SchemaMismatchError, match="must be a timestamp"):
        redis_store.update(by_text)
    with pytest.raises(InvalidInputError, match="no column"):
        redis_store.read(SPEC, [(1,)], ["nope"])
    with pytest.raises(InvalidInputError, match="namespace"):
        RedisOnlineStore(redis_url, namespace="a:b")


def test_unreachable_server_raises_a_connection_error():
    import redis
    from serving.processes import free_port

    store = RedisOnlineStore(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        store.ping()


def test_feature_view_served_from_redis_equals_sqlite(tmp_path, redis_store):
    """The same feature group and view, one store on SQLite and one on Redis: the same vectors."""
    rng = np.random.default_rng(3)
    cards = pd.DataFrame({
        "cc_num": np.arange(1, 41, dtype=np.int64),
        "t": pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, 40), unit="s"),
        "limit": rng.normal(1_000, 300, 40),
        "tier": rng.choice(["gold", "basic"], 40),
    })
    vectors = {}
    for name, online in (("sqlite", None), ("redis", redis_store)):
        fs = FeatureStore(tmp_path / name, online_store=online)
        fg = fs.get_or_create_feature_group("cards", primary_key=["cc_num"], event_time="t", online_enabled=True)
        fg.insert(cards)
        fv = fs.get_or_create_feature_view("limits", query=fg.select(["cc_num", "limit", "tier"]),
                                           transformation_functions={"tier": "label_encoder"})
        fv.create_training_data()
        fv.init_serving(1)
        entries = [{"cc_num": int(c)} for c in (5, 17, 40, 99)]
        vectors[name] = (fv.get_feature_vectors(entries), [fv.get_feature_vector(e) for e in entries])
    assert vectors["redis"] == vectors["sqlite"]
    assert vectors["redis"][0][0][0] == float(cards.loc[4, "limit"])


def test_joined_lookup_reads_several_tables_in_one_round_trip(redis_store):
    other = OnlineTableSpec(name="limits_v1", key_columns=("card",), event_time="t",
                            schema=pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                              ("limit", pa.float64())]))
    redis_store.write_batch(SPEC, _rows((1, _t(1), 10.0, "Oslo", None, True, None, None)))
    redis_store.write_batch(other, pa.Table.from_pylist([{"card": 2, "t": _t(2), "limit": 5.5}], schema=other.schema))
    fetch = redis_store.joined_lookup([(SPEC, ["city", "vip"]), (other, ["limit"])])
    assert fetch((1,)) == [("Oslo", True), None]
    assert fetch((2,)) == [None, (5.5,)]
    assert fetch((3,)) == [None, None]


def test_the_asyncio_joined_lookup_reads_what_the_joined_lookup_reads(redis_store):
    other = OnlineTableSpec(name="limits_v1", key_columns=("card",), event_time="t",
                            schema=pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                              ("limit", pa.float64())]))
    redis_store.write_batch(SPEC, _rows((1, _t(1), 10.0, "Oslo", None, True, None, None)))
    redis_store.write_batch(other, pa.Table.from_pylist([{"card": 2, "t": _t(2), "limit": 5.5}], schema=other.schema))
    wanted = [(SPEC, ["city", "vip", "t"]), (other, ["limit"])]
    fetch, fetch_async = redis_store.joined_lookup(wanted), redis_store.joined_lookup_async(wanted)

    async def read(keys):
        return [await fetch_async(key) for key in keys]

    keys = [(1,), (2,), (3,)]
    assert asyncio.run(read(keys)) == [fetch(key) for key in keys] == [
        [("Oslo", True, _t(1)), None], [None, (5.5,)], [None, None]]
    assert asyncio.run(read(keys[:1])) == [fetch((1,))]  # another event loop: a client of its own


def test_aclose_releases_the_asyncio_clients_connections(redis_store):
    redis_store.write_batch(SPEC, _rows((1, _t(1), 10.0, "Oslo", None, True, None, None)))
    fetch_async = redis_store.joined_lookup_async([(SPEC, ["city"])])
    server = redis_store._client

    async def read_then_close() -> tuple[int, int, list]:
        found = await fetch_async((1,))
        opened = len(server.client_list())
        await redis_store.aclose()
        return opened, len(server.client_list()), found

    opened, after, found = asyncio.run(read_then_close())
    assert found == [("Oslo",)]
    assert after == opened - 1  # the asyncio client's one connection is gone
    assert asyncio.run(fetch_async((1,))) == [("Oslo",)]  # a later loop opens a client again
