"""Joined reads of many keys at once from a `RedisOnlineStore` through its asyncio client: what
`RedisOnlineStore.joined_lookup_async` does for one key, for a batch of keys (e.g. the concurrent
requests a server coalesces), in one round trip.

On one server, one call of the store's read-only joined-read script with every key's rows (the
script walks its keys in order, each with its table's fields): one command however many keys, where
one call per key costs the client ~60 us of CPU each. On a Redis Cluster the keys of a batch live in
different slots, which one script call cannot touch: one call per key, in flight together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from .online_store import OnlineTableSpec, Row
from .redis_online_store import RedisOnlineStore, _decode_row, _decoders, _row_key


def joined_lookup_many_async(
    store: RedisOnlineStore, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
) -> Callable[[Sequence[Row]], Awaitable[list[list[Row | None]]]]:
    """A prepared reader: keys -> per key, its row of each table (None where missing), in order."""
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster  # imported when used, as the store does

    prepared = [(store._prefix(t), [t.event_time.encode(), *(c.encode() for c in cs)], _decoders(t, cs))
                for t, cs in tables]
    args = [item for _, fields, _ in prepared for item in (str(len(fields)).encode(), *fields)]
    one = store.joined_lookup_async(tables)
    warmed: list[object] = [None]  # the asyncio cluster client that has answered once

    async def fetch_many(keys: Sequence[Row]) -> list[list[Row | None]]:
        if len(keys) == 1:
            return [await one(keys[0])]
        client, script = store._async_client()
        if isinstance(client, AsyncRedisCluster):
            if warmed[0] is not client:  # a cluster client maps its nodes on first use: concurrent first calls race
                first = await one(keys[0])
                warmed[0] = client
                return [first, *await asyncio.gather(*(one(key) for key in keys[1:]))]
            return list(await asyncio.gather(*(one(key) for key in keys)))
        tags = [_row_key(b"", key) for key in keys]
        found = await script(keys=[prefix + tag for tag in tags for prefix, _, _ in prepared], args=args * len(keys))
        width = len(prepared)
        return [[None if values[0] is None else _decode_row(decoders, values[1:])
                 for (_, _, decoders), values in zip(prepared, found[start:start + width])]
                for start in range(0, len(found), width)]
    return fetch_many
