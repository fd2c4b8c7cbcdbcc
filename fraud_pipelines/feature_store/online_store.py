"""The online store: the latest row per primary key of each online-enabled feature group.

`OnlineStore` is the interface (four abstract methods, like Feast's: update, write_batch,
read, teardown); the embedded default is `sqlite_online_store.SQLiteOnlineStore`, the server one
`redis_online_store.RedisOnlineStore`. This module also holds what the backends share: the table
spec, how values are encoded (times as microseconds, dates as day numbers) and decoded.

Writes never go back in time: a row replaces the stored one only if its event time is
greater than or equal to the stored event time, so a late, older batch changes nothing and
replaying a batch is harmless (idempotent). `merge_event` adds one event to a row's
event-list column atomically (see `event_lists`): concurrent writers of one key lose nothing.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidInputError
from .event_lists import EventMerge

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_DATE = dt.date(1970, 1, 1)

Row = tuple[Any, ...]


@dataclass(frozen=True, kw_only=True)
class OnlineTableSpec:
    """One online table: its name, primary key, event time column and stored columns."""

    name: str
    key_columns: tuple[str, ...]
    event_time: str
    schema: pa.Schema

    def __post_init__(self) -> None:
        missing = [c for c in (*self.key_columns, self.event_time) if c not in self.schema.names]
        if missing:
            raise InvalidInputError(f"online table {self.name}: key/time column(s) {missing} not in schema")


class OnlineStore(ABC):
    """Latest feature row per key, for low-latency lookups."""

    _known: set[str]  # tables `update` has checked in this process; each backend sets it in __init__

    @abstractmethod
    def update(self, table: OnlineTableSpec) -> None:
        """Create the table if needed, or check that the existing one has the same columns."""

    def write_batch(self, table: OnlineTableSpec, rows: pa.Table) -> int:
        """Upsert the latest row per key of `rows`, never replacing a newer stored row; returns rows written."""
        if table.name not in self._known:
            self.update(table)
        rows = latest_per_key(rows.select(table.schema.names), table.key_columns, table.event_time)
        if rows.num_rows:
            self._write_latest(table, rows)
        return rows.num_rows

    @abstractmethod
    def _write_latest(self, table: OnlineTableSpec, rows: pa.Table) -> None:
        """Store `rows` (one per key, the table's columns) unless a stored row for a key is newer."""

    @abstractmethod
    def read(self, table: OnlineTableSpec, keys: Sequence[Row], columns: Sequence[str]) -> list[Row | None]:
        """`columns` of the row stored for each key (None where absent), in the order of `keys`."""

    @abstractmethod
    def teardown(self, table: OnlineTableSpec) -> None:
        """Drop the table and its rows."""

    @abstractmethod
    def delete(self, table: OnlineTableSpec, keys: Sequence[Row]) -> int:
        """Remove the rows of `keys` for good (erasure: no copy may stay readable, e.g. in free pages);
        returns how many were there."""

    @abstractmethod
    def reset_rows(self, table: OnlineTableSpec, rows: pa.Table, gone: Sequence[Row], *, since: dt.datetime,
                   until: dt.datetime) -> None:
        """Where a key's stored row has its event time in [since, until): replace it by the key's row in
        `rows` (the table's columns; older or not), or remove it for a key in `gone`. Rows stored with
        other times stay, checked per key atomically. Used when an offline replacement of that time
        range removed the rows (`online_replacement`): the one write that may go back in time."""

    @abstractmethod
    def merge_event(self, table: OnlineTableSpec, key: Row, *, column: str, item: str,
                    retention_us: int) -> EventMerge:
        """Merge one event (`event_lists.event_item`) into the event-list `column` of the row at
        `key`, atomically for that key; the row's event time becomes the list's newest time. A
        missing row is created with its other columns null."""

    def lookup(self, table: OnlineTableSpec, columns: Sequence[str]) -> Callable[[Row], Row | None]:
        """A prepared single-key reader (the serving hot path); backends may override it."""
        def fetch(key: Row) -> Row | None:
            return self.read(table, [key], columns)[0]
        return fetch

    def batch_lookup(
        self, table: OnlineTableSpec, columns: Sequence[str]
    ) -> Callable[[Sequence[Row]], list[Row | None]]:
        """A prepared many-key reader (batch vectors): keys are tuples; backends may override it."""
        def fetch_many(keys: Sequence[Row]) -> list[Row | None]:
            return self.read(table, keys, columns)
        return fetch_many

    def value_lookup(
        self, table: OnlineTableSpec, columns: Sequence[str]
    ) -> Callable[[Sequence[Any]], list[Row | None]]:
        """`batch_lookup` for a table keyed by one column, its keys given as plain values (no key
        tuples to build and take apart); backends may override it."""
        fetch_many = self.batch_lookup(table, columns)

        def fetch_values(values: Sequence[Any]) -> list[Row | None]:
            return fetch_many([(v,) for v in values])
        return fetch_values

    def joined_value_lookup(
        self, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
    ) -> Callable[[Sequence[Any]], list[Row]] | None:
        """One read of several tables keyed by one column each, for the same plain key values: per
        value, every table's `columns` in turn, None where a table has no row. None when this store
        has no such read (callers then use `value_lookup` table by table); backends may override it."""
        return None


def latest_per_key(rows: pa.Table, key_columns: Sequence[str], event_time: str) -> pa.Table:
    """The row with the greatest event time for each key (the last one among equal times)."""
    if rows.num_rows < 2:
        return rows
    order = pc.sort_indices(rows, [(event_time, "ascending")])
    rows = rows.take(order)
    keys = pd.DataFrame({f"k{i}": rows[k].to_numpy(zero_copy_only=False) for i, k in enumerate(key_columns)})
    keep = ~keys.duplicated(keep="last").to_numpy()
    return rows.filter(pa.array(keep))


def time_bounds(table: OnlineTableSpec, since: dt.datetime, until: dt.datetime) -> tuple[int, int]:
    """[since, until) as the stored (encoded) event times of `table`: integer microseconds (UTC)."""
    kind = table.schema.field(table.event_time).type
    if not pa.types.is_timestamp(kind):
        raise InvalidInputError(f"online table {table.name}: event time '{table.event_time}' must be a timestamp "
                                "to reset a time range")
    bounds = pa.chunked_array([pa.array([since, until], pa.timestamp("us", tz="UTC"))])
    low, high = _encode(bounds, kind).to_pylist()
    return low, high


def _check_event_list(table: OnlineTableSpec, column: str) -> None:
    """An event list lives in a string column of a table whose event time is a timestamp."""
    if column not in table.schema.names or not pa.types.is_string(table.schema.field(column).type):
        raise InvalidInputError(f"online table {table.name}: '{column}' is not a string column for an event list")
    if not pa.types.is_timestamp(table.schema.field(table.event_time).type):
        raise InvalidInputError(f"online table {table.name}: event time '{table.event_time}' must be a timestamp")


def _describe(table: OnlineTableSpec) -> dict[str, Any]:
    return {"columns": [[f.name, str(f.type)] for f in table.schema], "key": list(table.key_columns),
            "event_time": table.event_time}


def _encode(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """Times as integer microseconds (UTC) and dates as day numbers: exact and comparable."""
    if pa.types.is_timestamp(kind):
        return column.cast(pa.timestamp("us", tz=kind.tz)).cast(pa.int64())
    if pa.types.is_date(kind):
        return column.cast(pa.date32()).cast(pa.int32())
    return column


def _as_utc_time(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def _as_naive_time(micros: int) -> dt.datetime:
    return (EPOCH + dt.timedelta(microseconds=micros)).replace(tzinfo=None)


def _as_date(days: int) -> dt.date:
    return EPOCH_DATE + dt.timedelta(days=days)


def _as_bool(value: int) -> bool:
    return bool(value)
