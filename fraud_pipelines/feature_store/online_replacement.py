"""The online side of an offline range replacement: rows removed offline leave the online store.

`FeatureGroup.insert(..., replace_time_range=(start, end))` deletes every stored row in the range
before writing the new ones. The online store keeps each key's latest row and never goes back in
time, so a key whose online row came from the replaced range would keep serving a row that no
longer exists offline. Here: the keys that had rows in the range are noted before the commit; after
it, each such key whose online row still lies in the range gets its newest remaining offline row
(older or not), or leaves the online store when it has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from .offline_store import Snapshot, TimeRange
from .online_store import OnlineStore, OnlineTableSpec, latest_per_key
from .sql import quote


def keys_in_range(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, *, primary_key: Sequence[str],
                  event_time: str, window: TimeRange) -> pa.Table:
    """The distinct primary keys with a row in `window` in `snapshot` (the version before the replacement)."""
    snapshot.register(con, "replaced", event_time=event_time, columns=list(primary_key), time_range=window)
    keys = ", ".join(quote(k) for k in primary_key)
    return con.sql(f"SELECT DISTINCT {keys} FROM replaced").to_arrow_table()


def newest_rows(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, keys: pa.Table, *, primary_key: Sequence[str],
                event_time: str, columns: Sequence[str]) -> pa.Table:
    """Each of `keys`' newest row in `snapshot` (the version after the replacement); keys without one are absent."""
    snapshot.register(con, "current", event_time=event_time, columns=list(columns))
    con.register("wanted", keys)
    on = " AND ".join(f"c.{quote(k)} = w.{quote(k)}" for k in primary_key)
    select = ", ".join(f"c.{quote(c)}" for c in columns)
    rows = con.sql(f"SELECT {select} FROM current c SEMI JOIN wanted w ON {on}").to_arrow_table()
    return latest_per_key(rows, primary_key, event_time)


def withdraw_replaced(store: OnlineStore, spec: OnlineTableSpec, keys: pa.Table, newest: pa.Table,
                      window: TimeRange) -> None:
    """Give each of `keys` whose online row lies in `window` its row of `newest`, or remove it when it has
    none (`OnlineStore.reset_rows`: one atomic check per key, so a newer row written meanwhile stays)."""
    if keys.num_rows == 0 or window.start is None or window.end is None:
        return
    remaining = set(_key_rows(newest, spec.key_columns))
    gone = [key for key in _key_rows(keys, spec.key_columns) if key not in remaining]
    store.update(spec)
    store.reset_rows(spec, newest.select(spec.schema.names), gone, since=window.start, until=window.end)


def _key_rows(table: pa.Table, key_columns: Sequence[str]) -> list[tuple]:
    return list(zip(*(table[k].to_pylist() for k in key_columns))) if table.num_rows else []

