"""The Redis online store on a real 3-node Redis Cluster started on 127.0.0.1: detected from the
server, the same answers as on SQLite for batched writes spread over every node (script calls
grouped per node: redis-py refuses EVALSHA in cluster pipelines), reads, prepared and joined
lookups, never going back in time, teardown, and atomic event merges from concurrent writers."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pyarrow as pa
import pytest
from serving.processes import redis_cluster

from fraud_pipelines.feature_store import OnlineTableSpec, SQLiteOnlineStore
from fraud_pipelines.feature_store.event_lists import EventMerge, event_item
from fraud_pipelines.feature_store.redis_online_store import RedisOnlineStore

UTC = dt.timezone.utc
SCHEMA = pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")), ("limit", pa.float64()),
                    ("city", pa.string())])
SPEC = OnlineTableSpec(name="cards_v1", key_columns=("card",), event_time="t", schema=SCHEMA)
OTHER = OnlineTableSpec(name="limits_v1", key_columns=("card",), event_time="t",
                        schema=pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                          ("limit", pa.float64())]))
EVENTS = OnlineTableSpec(name="recent_v1", key_columns=("card",), event_time="t",
                         schema=pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")),
                                           ("events", pa.string())]))
BASE = 1_735_689_600_000_000


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
def store(cluster_url, request):
    redis_store = RedisOnlineStore(cluster_url, namespace=f"c{abs(hash(request.node.nodeid))}")
    yield redis_store
    redis_store.close()


def _t(hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, hour, tzinfo=UTC)


def _rows(n: int, hour: int, scale: float = 1.0) -> pa.Table:
    return pa.Table.from_pylist([{"card": i, "t": _t(hour), "limit": (0.1 + i) * scale, "city": f"c{i}"}
                                 for i in range(n)], schema=SCHEMA)


def test_batched_writes_over_every_node_read_back_like_sqlite(store, tmp_path):
    from redis.cluster import RedisCluster

    assert isinstance(store._client, RedisCluster)  # detected from the server, same URL form
    nodes = {store._client.get_node_from_key(f"{store.namespace}:cards_v1:{{{i}}}").name for i in range(2_500)}
    assert len(nodes) == 3  # the rows really spread over the three nodes
    sqlite = SQLiteOnlineStore(tmp_path / "online.sqlite")
    for online in (store, sqlite):
        assert online.write_batch(SPEC, _rows(2_500, 2)) == 2_500
        online.write_batch(SPEC, _rows(2_500, 1, scale=-1.0))  # older: changes nothing
        online.write_batch(SPEC, _rows(10, 3, scale=2.0))  # newer for ten keys
    keys = [(i,) for i in range(2_499, -1, -3)] + [(5_000,)]
    assert store.read(SPEC, keys, ["t", "limit", "city"]) == sqlite.read(SPEC, keys, ["t", "limit", "city"])
    assert store.read(SPEC, [(4,), (2_000,)], ["limit"]) == [((0.1 + 4) * 2.0,), (0.1 + 2_000,)]
    assert store.lookup(SPEC, ["city", "limit"])((7,)) == ("c7", (0.1 + 7) * 2.0)

    store.write_batch(OTHER, pa.Table.from_pylist([{"card": 8, "t": _t(1), "limit": 5.5}], schema=OTHER.schema))
    fetch = store.joined_lookup([(SPEC, ["city"]), (OTHER, ["limit"])])
    assert fetch((8,)) == [("c8",), (5.5,)] and fetch((9,)) == [("c9",), None] and fetch((9_999,)) == [None, None]

    store.teardown(SPEC)
    assert store.read(SPEC, [(0,), (2_499,)], ["limit"]) == [None, None]
    assert not list(store._client.scan_iter(match=f"{store.namespace}:cards_v1:*"))
    assert store.read(OTHER, [(8,)], ["limit"]) == [(5.5,)]


def test_event_merges_on_the_cluster_are_atomic_per_key(store):
    def writer(offset: int) -> None:
        for i in range(30):
            for card in (1, 2, 3):
                item = event_item(BASE + i * 1_000 + offset, offset * 1_000 + i, float(card))
                assert store.merge_event(EVENTS, (card,), column="events", item=item,
                                         retention_us=4 * 3_600_000_000) is EventMerge.STORED

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for card in (1, 2, 3):
        listed = json.loads(store.read(EVENTS, [(card,)], ["events"])[0][0])
        assert len(listed) == 120 and [e[:2] for e in listed] == sorted(e[:2] for e in listed)
    duplicate = event_item(BASE, 0, 1.0)
    assert store.merge_event(EVENTS, (1,), column="events", item=duplicate, retention_us=10) is EventMerge.DUPLICATE


def test_the_asyncio_joined_lookup_reads_every_node_as_the_joined_lookup_does(store):
    import asyncio

    store.write_batch(SPEC, _rows(300, 2))
    store.write_batch(OTHER, pa.Table.from_pylist([{"card": i, "t": _t(1), "limit": i + 0.5} for i in range(0, 300, 2)],
                                                  schema=OTHER.schema))
    wanted = [(SPEC, ["city", "limit"]), (OTHER, ["limit"])]
    fetch, fetch_async = store.joined_lookup(wanted), store.joined_lookup_async(wanted)
    keys = [(i,) for i in range(0, 320, 7)]

    async def read():
        return [await fetch_async(key) for key in keys]

    assert asyncio.run(read()) == [fetch(key) for key in keys]
    assert len({store._client.get_node_from_key(f"{store.namespace}:cards_v1:{{{k[0]}}}").name for k in keys}) == 3
