"""Turning a user's batch (pandas or Arrow) into rows a feature group can store.

Rules, applied before anything is written:
- the primary key, event time and partition key columns must exist and hold no nulls;
- the event time becomes `timestamp[us, UTC]` (naive times are read as UTC, dates as midnight);
- other timestamps become microsecond precision (what Delta stores), refusing to drop digits;
- a batch with the same (primary key, event time) twice keeps the last occurrence;
- once a group has a schema, a batch must have exactly its columns, with types that cast
  without loss; anything else is a `SchemaMismatchError` that points to version + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidInputError, SchemaMismatchError
from .offline_store import connect
from .sql import quote

EVENT_TIME_TYPE = pa.timestamp("us", tz="UTC")
RESERVED_PREFIX = "__"


def to_arrow(data: Any, where: str) -> pa.Table:
    """Accept a pandas DataFrame or an Arrow table; anything else is refused by name."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        if data.columns.duplicated().any():
            dupes = sorted(set(data.columns[data.columns.duplicated()]))
            raise InvalidInputError(f"{where}: duplicate column names {dupes}")
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInputError(f"{where}: cannot convert the DataFrame to Arrow: {exc}") from exc
    raise InvalidInputError(f"{where}: expected a pandas DataFrame or a pyarrow Table, got {type(data).__name__}")


def to_utc_timestamp(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """Cast an event-time-like column to `timestamp[us, UTC]` without losing digits."""
    kind = column.type
    if pa.types.is_date(kind):
        return pc.cast(column, pa.timestamp("us")).cast(EVENT_TIME_TYPE)
    if not pa.types.is_timestamp(kind):
        raise InvalidInputError(f"{where}: column '{name}' must hold timestamps or dates, not {kind}")
    if kind.tz is None:
        column = pc.assume_timezone(column, "UTC")
    try:
        return pc.cast(column, EVENT_TIME_TYPE, safe=True)
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(
            f"{where}: column '{name}' has sub-microsecond digits; Delta stores microseconds"
        ) from exc


def prepare(
    table: pa.Table,
    *,
    where: str,
    primary_key: Sequence[str],
    event_time: str,
    partition_key: Sequence[str] = (),
    stored_schema: pa.Schema | None = None,
) -> tuple[pa.Table, int]:
    """Check and normalize `table`; return it (sorted by event time) and how many duplicates went."""
    required = [*primary_key, event_time, *partition_key]
    missing = [c for c in dict.fromkeys(required) if c not in table.column_names]
    if missing:
        raise InvalidInputError(f"{where}: missing column(s) {missing}; the batch has {table.column_names}")
    reserved = [c for c in table.column_names if c.startswith(RESERVED_PREFIX)]
    if reserved:
        raise InvalidInputError(f"{where}: column names starting with '__' are reserved: {reserved}")
    table = _normalize_timestamps(table, event_time, where)
    for name in dict.fromkeys(required):
        nulls = table[name].null_count
        if nulls:
            rows = np.flatnonzero(table[name].is_null().to_numpy(zero_copy_only=False))[:5].tolist()
            raise InvalidInputError(f"{where}: column '{name}' has {nulls} null(s), e.g. at rows {rows}")
    if stored_schema is not None:
        table = conform(table, stored_schema, where)
    else:
        untyped = [f.name for f in table.schema if pa.types.is_null(f.type)]
        if untyped:
            raise InvalidInputError(
                f"{where}: column(s) {untyped} hold only nulls, so their type is unknown; cast them first"
            )
    table, dropped = drop_duplicate_keys(table, [*primary_key, event_time])
    return sort_by(table, event_time), dropped


def conform(table: pa.Table, stored: pa.Schema, where: str) -> pa.Table:
    """Reorder and losslessly cast `table` to the stored schema, or say why it cannot be."""
    hint = "a feature group version's schema is fixed; create version + 1 for the new schema"
    extra = [c for c in table.column_names if c not in stored.names]
    missing = [c for c in stored.names if c not in table.column_names]
    if extra or missing:
        raise SchemaMismatchError(
            f"{where}: columns differ from the stored schema (unexpected {extra}, missing {missing}); {hint}"
        )
    columns = []
    for field in stored:
        column = table[field.name]
        if column.type != field.type:
            if not _same_family(column.type, field.type):
                raise SchemaMismatchError(
                    f"{where}: column '{field.name}' is stored as {field.type} but the batch has {column.type}; {hint}"
                )
            try:
                column = pc.cast(column, field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise SchemaMismatchError(
                    f"{where}: column '{field.name}' is stored as {field.type} but the batch has "
                    f"{table[field.name].type} ({exc}); {hint}"
                ) from exc
        columns.append(column)
    return pa.table(columns, schema=stored)


def _same_family(given: pa.DataType, stored: pa.DataType) -> bool:
    """Casts we accept silently: all-null columns, numbers to wider numbers, text to text, time to time."""
    t = pa.types
    if t.is_null(given):
        return True
    if t.is_integer(given) or t.is_floating(given) or t.is_boolean(given):
        return (t.is_integer(stored) or t.is_floating(stored)) and not t.is_boolean(given) or given == stored
    text = (t.is_string, t.is_large_string, t.is_string_view)
    if any(f(given) for f in text):
        return any(f(stored) for f in text)
    if t.is_timestamp(given) or t.is_date(given):
        return t.is_timestamp(stored) or t.is_date(stored)
    return False


def drop_duplicate_keys(table: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, int]:
    """Keep the last row of each key (later rows in a batch win, like repeated upserts)."""
    if not _has_duplicates(table, keys):  # the usual case, checked by a parallel hash aggregate
        return table, 0
    frame = pd.DataFrame({f"k{i}": table[k].to_numpy(zero_copy_only=False) for i, k in enumerate(keys)})
    duplicated = frame.duplicated(keep="last").to_numpy()
    dropped = int(duplicated.sum())
    if dropped:
        table = table.filter(pa.array(~duplicated))
    return table, dropped


def _has_duplicates(table: pa.Table, keys: Sequence[str]) -> bool:
    if table.num_rows < 2:
        return False
    columns = ", ".join(quote(k) for k in keys)
    con = connect()
    try:
        con.register("batch", table.select(list(keys)))
        found = con.execute(
            f"SELECT EXISTS (SELECT 1 FROM batch GROUP BY {columns} HAVING count(*) > 1)"
        ).fetchone()
    finally:
        con.close()
    return bool(found and found[0])


def sort_by(table: pa.Table, event_time: str) -> pa.Table:
    """Rows in event-time order, so files and row groups cover narrow time ranges (pruning)."""
    times = table[event_time].cast(pa.int64()).to_numpy()
    if len(times) < 2 or bool(np.all(times[1:] >= times[:-1])):
        return table
    return table.take(pa.array(np.argsort(times, kind="stable")))


def _normalize_timestamps(table: pa.Table, event_time: str, where: str) -> pa.Table:
    for index, field in enumerate(table.schema):
        if field.name == event_time:
            column = to_utc_timestamp(table[field.name], field.name, where)
        elif pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            try:
                column = pc.cast(table[field.name], pa.timestamp("us", tz=field.type.tz), safe=True)
            except pa.ArrowInvalid as exc:
                raise InvalidInputError(
                    f"{where}: column '{field.name}' has sub-microsecond digits; Delta stores microseconds"
                ) from exc
        else:
            continue
        table = table.set_column(index, pa.field(field.name, column.type), column)
    return table
