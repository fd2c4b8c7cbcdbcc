"""The point-in-time join: the one place where feature rows meet spine rows.

The rule (every reader goes through it: training data, batch data, `as_of`):

    For each spine row with event time t, each joined source contributes, for the same join
    key, its row with the greatest event time <= t. When several rows of that source share the
    join key and that event time, the one with the greatest primary key wins. When there is no
    such row, the source's columns are null. Spine rows are never dropped or duplicated (a left
    join); rows come out ordered by spine event time, then by the spine's ordering columns
    (its primary key, or the caller's row order), so the same inputs always give the same frame.
    A spine row whose join key is null matches nothing.

It runs as DuckDB `ASOF LEFT JOIN`s over relations registered by the caller; no Python touches
individual rows. The output order is either DuckDB's `ORDER BY` or, cheaper for big results
(`ordered=False` plus `spine_order`), the spine's own read order when it already follows the rule
(one scatter instead of a sort of every output column), with a sort only when it does not.
Joined rows can never come from the future: the join condition is
`spine.t >= source.t`, and `leakage_audit` measures it on the result for the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .sql import quote, timestamp_literal

#: Hidden result columns start with this; callers drop them with `drop_hidden`.
HIDDEN = "__"
SPINE_TIME = "__spine_t"
#: Hidden column of an unordered join: the row's position in the spine as DuckDB read it.
POSITION = "__pos"


@dataclass(frozen=True, kw_only=True)
class SpineSource:
    """The left side: one output row per row of `relation` (already filtered by the caller)."""

    relation: str
    event_time: str
    order_by: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column in relation, output name)


@dataclass(frozen=True, kw_only=True)
class JoinedSource:
    """A right side: its latest row per join key as of each spine row's event time."""

    relation: str
    spine_keys: tuple[str, ...]
    keys: tuple[str, ...]
    event_time: str
    primary_key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column in relation, output name)
    audit_name: str  # names this source in the leakage audit

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.spine_keys) or not self.keys:
            raise ValueError(f"join of {self.relation}: keys {self.keys} do not pair with {self.spine_keys}")

    @property
    def ties_possible(self) -> bool:
        """Rows sharing (join key, event time) exist only when the key does not cover the primary key."""
        return not set(self.primary_key) <= set(self.keys)


def point_in_time_sql(
    spine: SpineSource, joins: Sequence[JoinedSource], *, where: str | None = None, ordered: bool = True
) -> str:
    """The SQL of the join described in this module's docstring.

    `where` is an optional condition on output column names, applied after the join.
    The result carries hidden columns (`__spine_t`, `__et_<i>`, `__o<i>`) for the leakage
    audit and ordering; drop them with `drop_hidden`. With `ordered=False` the rows come in
    DuckDB's order, with the hidden `__pos`: `spine_order` then gives the rule's order.
    """
    ctes = [_spine_cte(spine, joins, numbered=not ordered)]
    ctes += [_joined_cte(i, source) for i, source in enumerate(joins)]
    spine_outputs = dict(spine.columns)
    select = [] if spine.event_time in spine_outputs else [f's."__t" AS {quote(SPINE_TIME)}']
    order = [quote(spine_time_column(spine))]
    for i, column in enumerate(spine.order_by):
        if column in spine_outputs:
            order.append(quote(spine_outputs[column]))
        else:
            select.append(f"s.{quote(_spine_col(spine, column))} AS {quote(f'__o{i}')}")
            order.append(quote(f"__o{i}"))
    select += [f"s.{quote(_spine_col(spine, c))} AS {quote(out)}" for c, out in spine.columns]
    if not ordered:
        select.append(f"s.{quote(POSITION)} AS {quote(POSITION)}")
    joins_sql = []
    for i, source in enumerate(joins):
        alias = f"j{i}"
        select += [f"{alias}.{quote(f'__c{n}')} AS {quote(out)}" for n, (_, out) in enumerate(source.columns)]
        select.append(f'{alias}."__t" AS {quote(f"__et_{i}")}')
        on = [
            f"s.{quote(_spine_col(spine, sk))} = {alias}.{quote(f'__k{n}')}"
            for n, sk in enumerate(source.spine_keys)
        ]
        on.append(f's."__t" >= {alias}."__t"')
        joins_sql.append(f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}")
    inner = f"SELECT {', '.join(select)} FROM spine s {' '.join(joins_sql)}"
    condition = f" WHERE {where}" if where else ""
    ordering = f" ORDER BY {', '.join(order)}" if ordered else ""
    return f"WITH {', '.join(ctes)} SELECT * FROM ({inner}){condition}{ordering}"


def latest_per_key_sql(
    relation: str,
    *,
    keys: Sequence[str],
    event_time: str,
    primary_key: Sequence[str],
    columns: Sequence[str],
    at: datetime,
) -> str:
    """Each key's row with the greatest event time <= `at`: the join above with a spine of
    every key present in `relation`, all at time `at` (rows ordered by key)."""
    key_list = ", ".join(quote(k) for k in keys)
    spine_relation = (
        f"(SELECT DISTINCT {key_list}, {timestamp_literal(at)} AS {quote('__at')} FROM {relation} "
        f"WHERE {quote(event_time)} <= {timestamp_literal(at)})"
    )
    spine = SpineSource(
        relation=spine_relation,
        event_time="__at",
        order_by=tuple(keys),
        columns=tuple((k, k) for k in keys),
    )
    joined = JoinedSource(
        relation=relation,
        spine_keys=tuple(keys),
        keys=tuple(keys),
        event_time=event_time,
        primary_key=tuple(primary_key),
        columns=tuple((c, c) for c in columns if c not in keys),
        audit_name=relation,
    )
    return point_in_time_sql(spine, [joined])


def spine_time_column(spine: SpineSource) -> str:
    """The result column holding the spine's event time (its output name, or a hidden one)."""
    return dict(spine.columns).get(spine.event_time, SPINE_TIME)


def spine_order(result: pa.Table, spine: SpineSource) -> np.ndarray:
    """The permutation putting the rows of an unordered join (`ordered=False`) in the rule's order:
    spine event time, then the spine's ordering columns, as `ORDER BY` would (nulls last, ties in
    spine read order).

    When the spine was read in that order already (files written in time order, a caller's frame),
    the spine positions give it with one scatter and a linear check; otherwise a stable sort.
    """
    positions = result[POSITION].to_numpy()
    if len(positions) == 0:
        return np.zeros(0, dtype=np.int64)
    slot = np.full(int(positions.max()) + 1, -1, dtype=np.int64)
    slot[positions] = np.arange(len(positions))
    by_position = slot[slot >= 0]
    indices = pa.array(by_position)
    order = rule_order([result[c].take(indices) for c in _order_columns(result, spine)])
    return by_position if order is None else by_position[order]


def rule_order(columns: Sequence[pa.ChunkedArray]) -> np.ndarray | None:
    """The stable permutation sorting rows by `columns` (ascending, nulls last, as `ORDER BY`),
    or None when they are in that order already (checked in one linear pass)."""
    keys = [_sortable(c) for c in columns]
    if all(k is not None for k in keys):
        arrays: list[np.ndarray] = keys  # type: ignore[assignment]
        if len(arrays[0]) < 2 or _never_decreasing(arrays):
            return None
        return np.lexsort(arrays[::-1])
    ordered = pa.table(list(columns), names=[f"k{i}" for i in range(len(columns))])
    order = pc.sort_indices(ordered, sort_keys=[(f"k{i}", "ascending") for i in range(len(columns))]).to_numpy()
    if bool((order[1:] > order[:-1]).all()):
        return None
    return order


def take_in_order(result: pa.Table, order: np.ndarray) -> pa.Table:
    """`result`'s rows in `order`, column by column (each source column freed once taken when the
    caller holds no other reference)."""
    names = result.column_names
    columns = result.columns
    del result
    indices = pa.array(order)
    for i in range(len(columns)):
        columns[i] = columns[i].take(indices)
    return pa.table(columns, names=names)


def leakage_audit(result: pa.Table, spine: SpineSource, joins: Sequence[JoinedSource]) -> dict[str, float | None]:
    """Per joined source, max(feature event time - spine time) in seconds; <= 0 means no leakage.

    None when the source matched no spine row.
    """
    audit: dict[str, float | None] = {}
    spine_t = result[spine_time_column(spine)].cast(pa.int64())
    for i, source in enumerate(joins):
        gap = pc.max(pc.subtract(result[f"__et_{i}"].cast(pa.int64()), spine_t)).as_py()
        audit[source.audit_name] = None if gap is None else gap / 1e6
    return audit


def drop_hidden(result: pa.Table) -> pa.Table:
    """The result without the join's bookkeeping columns."""
    return result.select([c for c in result.column_names if not c.startswith(HIDDEN)])


def _spine_col(spine: SpineSource, column: str) -> str:
    return "__t" if column == spine.event_time else column


def _order_columns(result: pa.Table, spine: SpineSource) -> list[str]:
    """The result columns `ORDER BY` would use: spine time, then each ordering column."""
    outputs = dict(spine.columns)
    return [spine_time_column(spine), *(outputs.get(c, f"__o{i}") for i, c in enumerate(spine.order_by))]


def _sortable(column: pa.ChunkedArray) -> np.ndarray | None:
    """Integer-like values as int64 NumPy values (they sort as DuckDB sorts them); None for other
    types or when nulls are present (Arrow's sort handles those as DuckDB does: nulls last)."""
    kind = column.type
    integer_like = pa.types.is_signed_integer(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    if column.null_count or not integer_like:
        return None
    if pa.types.is_date32(kind):
        return column.cast(pa.int32()).to_numpy().astype(np.int64)
    return column.cast(pa.int64()).to_numpy()


def _never_decreasing(arrays: list[np.ndarray]) -> bool:
    """Whether consecutive rows never decrease in the lexicographic order of `arrays`."""
    undecided = np.ones(len(arrays[0]) - 1, dtype=bool)  # pairs equal on the keys so far
    for values in arrays:
        later, earlier = values[1:], values[:-1]
        if (undecided & (later < earlier)).any():
            return False
        undecided &= later == earlier
        if not undecided.any():
            return True
    return True


def _spine_cte(spine: SpineSource, joins: Sequence[JoinedSource], *, numbered: bool = False) -> str:
    needed = dict.fromkeys([*spine.order_by, *(c for c, _ in spine.columns)])
    for source in joins:
        needed.update(dict.fromkeys(source.spine_keys))
    # row_number() OVER () numbers rows as DuckDB reads them (a streaming window: no sort).
    parts = [f"row_number() OVER () AS {quote(POSITION)}"] if numbered else []
    parts.append(f'{quote(spine.event_time)} AS "__t"')
    parts += [quote(c) for c in needed if c != spine.event_time]
    return f"spine AS (SELECT {', '.join(parts)} FROM {spine.relation})"


def _joined_cte(i: int, source: JoinedSource) -> str:
    parts = [f"{quote(k)} AS {quote(f'__k{n}')}" for n, k in enumerate(source.keys)]
    parts.append(f'{quote(source.event_time)} AS "__t"')
    parts += [f"{quote(c)} AS {quote(f'__c{n}')}" for n, (c, _) in enumerate(source.columns)]
    if not source.ties_possible:
        return f"j{i} AS (SELECT {', '.join(parts)} FROM {source.relation})"
    # Ties: keep, per (join key, event time), the row with the greatest primary key. A hash
    # aggregate plus a semi join costs less than a window sort over the whole source.
    group = [*(quote(k) for k in source.keys), quote(source.event_time)]
    newest = (
        f"SELECT {', '.join(group)}, max({_primary_key(source)}) AS \"__pk\" "
        f"FROM {source.relation} GROUP BY {', '.join(group)}"
    )
    on = " AND ".join([*(f"r.{g} = m.{g}" for g in group), f'{_primary_key(source, "r.")} = m."__pk"'])
    body = f"SELECT {', '.join('r.' + p for p in parts)} FROM {source.relation} r SEMI JOIN ({newest}) m ON {on}"
    return f"j{i} AS ({body})"


def _primary_key(source: JoinedSource, alias: str = "") -> str:
    """The primary key as one comparable value (a struct compares field by field)."""
    refs = [f"{alias}{quote(k)}" for k in source.primary_key]
    return refs[0] if len(refs) == 1 else f"struct_pack({', '.join(refs)})"
