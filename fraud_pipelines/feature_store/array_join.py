"""The point-in-time join on Arrow and NumPy arrays: `point_in_time.py`'s rule, for the shapes where
it beats DuckDB's ASOF join, with the output built directly in the rule's order.

Each joined source costs one hash lookup per spine row (its key among the source's distinct keys)
plus a binary search among that key's versions, ceil(log2(versions + 1)) vectorized steps; a source
with one row per key (a charge's own features, joined on its id) needs no search at all. The
spine's rows are put in the rule's order first (no work when it is read in that order, as stored
spines are), so every output column is gathered once, in place, and never reordered.

Shapes handled (`unsupported` says why not, and the caller uses DuckDB): one join key column per
source, integers or strings on both sides; spine and source event times timestamps of one unit and
time zone kind; primary keys without nulls where they break ties.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .point_in_time import JoinedSource, SpineSource, rule_order

#: Seconds per unit of an Arrow timestamp, for the leakage audit.
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def spine_columns(spine: SpineSource, joins: Sequence[JoinedSource]) -> list[str]:
    """The spine relation's columns the join reads: event time, ordering columns, outputs, keys."""
    needed = [spine.event_time, *spine.order_by, *(c for c, _ in spine.columns)]
    needed += [k for source in joins for k in source.spine_keys]
    return list(dict.fromkeys(needed))


def source_columns(source: JoinedSource) -> list[str]:
    """A joined relation's columns the join reads: key, event time, tie-breaking key, outputs."""
    ties = source.primary_key if source.ties_possible else ()
    return list(dict.fromkeys([*source.keys, source.event_time, *ties, *(c for c, _ in source.columns)]))


def unsupported(spine_schema: pa.Schema, spine: SpineSource, schemas: Sequence[pa.Schema],
                joins: Sequence[JoinedSource]) -> str | None:
    """Why this join's shape is left to DuckDB, or None when the array join handles it."""
    spine_time = spine_schema.field(spine.event_time).type
    if not pa.types.is_timestamp(spine_time):
        return f"spine event time {spine.event_time} is {spine_time}, not a timestamp"
    for source, schema in zip(joins, schemas):
        if len(source.keys) != 1:
            return f"{source.audit_name} joins on {len(source.keys)} key columns"
        time = schema.field(source.event_time).type
        if not pa.types.is_timestamp(time) or time.unit != spine_time.unit or (time.tz is None) != (
                spine_time.tz is None):
            return f"{source.audit_name} event time is {time}, the spine's {spine_time}"
        left, right = spine_schema.field(source.spine_keys[0]).type, schema.field(source.keys[0]).type
        if not (_integer(left) and _integer(right)) and not (_text(left) and _text(right)):
            return f"{source.audit_name} key {source.keys[0]} is {right}, the spine's {left}"
    return None


def join_arrays(spine_table: pa.Table, spine: SpineSource, tables: Sequence[pa.Table],
                joins: Sequence[JoinedSource]) -> pa.Table:
    """The joined rows in the rule's order, with the spine's event time as `__spine_t` and each
    source's matched event time as `__et_<i>` (hidden columns, as the SQL join names them).
    `spine_table` holds `spine_columns`, `tables` the joined relations' `source_columns`; each
    table is released here once its columns are gathered."""
    order = rule_order([spine_table[c] for c in (spine.event_time, *spine.order_by)])
    if order is not None:
        spine_table = _take_columns(spine_table, order)
    spine_time = spine_table[spine.event_time]
    times = _integers(spine_time)
    no_time = spine_time.is_null().to_numpy(zero_copy_only=False) if spine_time.null_count else None
    tables = list(tables)
    with ThreadPoolExecutor(max_workers=2) as pool:  # NumPy and pandas' hash tables release the GIL
        positions = list(pool.map(
            lambda i: _source_positions(spine_table[joins[i].spine_keys[0]], times, no_time, tables[i], joins[i]),
            range(len(joins))))
        names = [out for _, out in spine.columns]
        columns = [spine_table[c] for c, _ in spine.columns]
        names.append("__spine_t")
        columns.append(spine_table[spine.event_time])
        for i, source in enumerate(joins):
            indices = _indices(positions[i])
            wanted = [*(c for c, _ in source.columns), source.event_time]
            names += [*(out for _, out in source.columns), f"__et_{i}"]
            columns += list(pool.map(lambda c, t=tables[i], at=indices: t[c].take(at), wanted))
            tables[i] = None
    return pa.table(columns, names=names)


def leakage(result: pa.Table, joins: Sequence[JoinedSource]) -> dict[str, float | None]:
    """Per source, max(matched event time - spine time) in seconds over `result`'s rows (None when
    nothing matched): the SQL join's `leakage_audit`, on the array join's hidden columns."""
    spine_t = result["__spine_t"]
    unit = _SECONDS[spine_t.type.unit]
    audit: dict[str, float | None] = {}
    for i, source in enumerate(joins):
        gap = pc.max(pc.subtract(result[f"__et_{i}"].cast(pa.int64()), spine_t.cast(pa.int64()))).as_py()
        audit[source.audit_name] = None if gap is None else gap * unit
    return audit


def _source_positions(spine_keys: pa.ChunkedArray, times: np.ndarray, no_time: np.ndarray | None,
                      table: pa.Table, source: JoinedSource) -> np.ndarray:
    """For each spine row, the row of `table` with its key and the greatest event time <= its
    time (ties: the greatest primary key); -1 when there is none, or when the spine row's key or
    time (`no_time`) is null."""
    usable = pc.and_(pc.is_valid(table[source.keys[0]]), pc.is_valid(table[source.event_time]))
    rows = None if pc.all(usable).as_py() is not False else np.flatnonzero(usable.to_numpy(zero_copy_only=False))
    if rows is not None:
        table = table.take(pa.array(rows))
    codes, distinct = pd.factorize(_values(table[source.keys[0]]))
    right_times = _integers(table[source.event_time])
    query = pd.Index(distinct).get_indexer(_values(spine_keys))
    if no_time is not None:
        query[no_time] = -1
    if spine_keys.null_count:
        query[spine_keys.is_null().to_numpy(zero_copy_only=False)] = -1
    if len(distinct) == len(codes):  # one row per key: row i holds key i, no search
        found = query >= 0
        found[found] = right_times[query[found]] <= times[found]
        best = np.where(found, query, -1)
    else:
        best = _latest_versions(query, times, codes, right_times, len(distinct), _tiebreak(table, source))
    if rows is not None:
        best = np.where(best >= 0, rows[np.maximum(best, 0)], -1)
    return best


def _latest_versions(query: np.ndarray, times: np.ndarray, codes: np.ndarray, right_times: np.ndarray,
                     n_keys: int, tiebreak: list[np.ndarray]) -> np.ndarray:
    """The search of `_source_positions` when keys have several versions: rows sorted by (key,
    time, tiebreak), each query's key range [lo, hi), then a binary search for the first version
    after its time, all queries at once."""
    order = np.lexsort((*tiebreak[::-1], right_times, codes))
    sorted_times = right_times[order]
    bounds = np.zeros(n_keys + 1, dtype=np.int64)  # key k's rows: [bounds[k], bounds[k + 1])
    np.cumsum(np.bincount(codes, minlength=n_keys), out=bounds[1:])
    lo = np.where(query >= 0, bounds[query], 0)
    hi = np.where(query >= 0, bounds[query + 1], 0)
    first = lo.copy()
    last = len(sorted_times) - 1
    for _ in range(math.ceil(math.log2(int((hi - lo).max(initial=0)) + 1))):
        open_ = lo < hi
        mid = (lo + hi) >> 1
        applies = open_ & (sorted_times[np.minimum(mid, last)] <= times)
        lo = np.where(applies, mid + 1, lo)
        hi = np.where(open_ & ~applies, mid, hi)
    found = lo > first
    return np.where(found, order[np.maximum(lo - 1, 0)], -1)


def _tiebreak(table: pa.Table, source: JoinedSource) -> list[np.ndarray]:
    """The primary key columns that order rows sharing (key, event time), as sortable arrays."""
    if not source.ties_possible:
        return []
    return [_sort_values(table[c]) for c in source.primary_key]


def _sort_values(column: pa.ChunkedArray) -> np.ndarray:
    """Values whose NumPy order is the column's order: integers as they are, others as ranks."""
    if _integer(column.type) or pa.types.is_timestamp(column.type):
        return _integers(column)
    ranks = np.empty(len(column), dtype=np.int64)
    ranks[pc.sort_indices(column).to_numpy()] = np.arange(len(column))
    return ranks


def _values(keys: pa.ChunkedArray) -> np.ndarray:
    """Key values for pandas' hash tables (nulls as a placeholder; callers mask them)."""
    if keys.null_count:
        keys = keys.fill_null("" if _text(keys.type) else 0)
    if _integer(keys.type):
        return keys.cast(pa.int64()).to_numpy()
    return keys.to_numpy(zero_copy_only=False)


def _integers(column: pa.ChunkedArray) -> np.ndarray:
    """Integers or timestamps (counts of their unit) as int64; nulls as 0 (callers mask them)."""
    values = column.cast(pa.int64())
    return (values.fill_null(0) if values.null_count else values).to_numpy()


def _indices(positions: np.ndarray) -> pa.Array:
    """Take indices with nulls where nothing matched (Arrow's take gives null there)."""
    missing = positions < 0
    if missing.any():
        return pa.array(positions, mask=missing)
    return pa.array(positions)


def _take_columns(table: pa.Table, order: np.ndarray) -> pa.Table:
    indices = pa.array(order)
    return pa.table([table[c].take(indices) for c in table.column_names], names=table.column_names)


def _integer(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) and not (pa.types.is_uint64(kind))


def _text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
