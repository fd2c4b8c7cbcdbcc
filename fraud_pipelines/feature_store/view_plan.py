"""How a feature view's query becomes rows: column roles, pinned table versions, the join call,
and the split of a joined frame into transformed features X and labels y.

Every offline reader of a feature view (training data, splits, batch data) comes through
`ViewPlan.read`, which registers the pinned Delta versions in DuckDB and runs the one
point-in-time join.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .array_join import join_arrays, leakage, source_columns, spine_columns, unsupported
from .errors import FeatureStoreError, InvalidInputError
from .input_batches import to_arrow, to_utc_timestamp
from .offline_store import Snapshot, TimeRange
from .point_in_time import (
    JoinedSource,
    SpineSource,
    drop_hidden,
    leakage_audit,
    point_in_time_sql,
    spine_order,
    take_in_order,
)
from .query import Query
from .sql import quote
from .transformations import output_names

Role = Literal["label", "primary_key", "event_time", "feature"]
#: Who runs the point-in-time join: the array join where its shape allows ("auto"), or always one.
JoinEngine = Literal["auto", "arrays", "duckdb"]


@dataclass(frozen=True)
class ViewColumn:
    """One output column of a feature view and what it is."""

    name: str
    source: int  # -1: spine, i >= 0: joins[i]
    column: str  # column in the source group
    role: Role


@dataclass
class JoinedRows:
    """A point-in-time join's rows as the engine produced them, and their order under the rule.

    Readers that need the rows in order take them with `to_arrow` or `to_pandas`; readers that
    only count or audit use `table` as it is.
    """

    table: pa.Table  # hidden columns dropped, in the engine's order
    order: np.ndarray | None  # positions of `table`'s rows in the rule's order; None: in order already
    audit: dict[str, float | None]

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows in order (all columns, or `columns`)."""
        table = self.table if columns is None else self.table.select(list(columns))
        return table if self.order is None else take_in_order(table, self.order)

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows in order as pandas. Reordering the columns after the conversion moves less than
        an Arrow take before it (strings are pointers by then); `self.table` is released when
        `columns` is None."""
        if columns is None:
            table, self.table = self.table, self.table.schema.empty_table()
        else:
            table = self.table.select(list(columns))
        frame = to_frame(table)
        del table
        if self.order is not None:
            reorder_in_place(frame, self.order)
        return frame


def reorder_in_place(frame: pd.DataFrame, order: np.ndarray) -> None:
    """Put `frame`'s rows in `order`, column by column: each column stays a block of its own (no
    consolidation) and at most a few gathered columns wait in memory.

    NumPy's take releases the GIL for numbers, so two threads gather two columns at once, as the
    join's engine uses both cores; the frame itself is only touched from this thread.
    """
    sources = [
        column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
        for _, column in frame.items()
    ]
    pending: deque[tuple[int, Future[Any]]] = deque()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for position in range(len(sources)):
            pending.append((position, pool.submit(sources[position].take, order)))
            sources[position] = None  # the frame and the task hold the old values, no one else
            while len(pending) > 2 or (pending and position == len(sources) - 1):
                done, future = pending.popleft()
                frame.isetitem(done, future.result())


class ViewPlan:
    """A feature view's query resolved against its groups' schemas."""

    def __init__(self, query: Query, labels: Sequence[str]) -> None:
        self.query = query
        self.labels = tuple(labels)
        outputs = query.output_columns()
        names = [name for _, _, name in outputs]
        unknown = [label for label in self.labels if label not in names]
        if unknown:
            raise InvalidInputError(f"label(s) {unknown} are not among the query's columns {names}")
        join_keys = {k for join in query.joins for k in join.left_on}
        groups = query.groups()
        columns = []
        for source, column, name in outputs:
            group = groups[source + 1]
            if name in self.labels:
                role: Role = "label"
            elif column in group.primary_key or (source == -1 and column in join_keys):
                role = "primary_key"
            elif column == group.event_time:
                role = "event_time"
            else:
                role = "feature"
            columns.append(ViewColumn(name, source, column, role))
        self.columns = columns

    def table_names(self) -> list[str]:
        """Delta table names of the spine group and each joined group, in query order."""
        return [f"{g.name}_v{g.version}" for g in self.query.groups()]

    def kept(self, *, primary_key: bool, event_time: bool, labels: bool = False) -> list[ViewColumn]:
        """Columns that go into X (plus labels when asked), before transformations."""
        keep = {"feature"} | ({"primary_key"} if primary_key else set()) | ({"event_time"} if event_time else set())
        keep |= {"label"} if labels else set()
        return [c for c in self.columns if c.role in keep]

    def read(
        self,
        con: duckdb.DuckDBPyConnection,
        snapshots: Sequence[Snapshot],
        spine_range: TimeRange,
        *,
        spine_frame: pa.Table | None = None,
        with_labels: bool = True,
        engine: JoinEngine = "auto",
    ) -> tuple[pa.Table, dict[str, float | None]]:
        """The joined rows for spine event times in `spine_range`, in order, and the leakage audit
        (see `join`)."""
        rows = self.join(con, snapshots, spine_range, spine_frame=spine_frame, with_labels=with_labels, engine=engine)
        return rows.to_arrow(), rows.audit

    def join(
        self,
        con: duckdb.DuckDBPyConnection,
        snapshots: Sequence[Snapshot],
        spine_range: TimeRange,
        *,
        spine_frame: pa.Table | None = None,
        with_labels: bool = True,
        engine: JoinEngine = "auto",
    ) -> JoinedRows:
        """The joined rows for spine event times in `spine_range`, their order and the leakage audit.

        `snapshots` pins the spine group then each joined group. With `spine_frame`, its rows are
        the spine instead of the spine group's (they must carry the spine's event time and keys).
        `con` is a fresh DuckDB connection, closed here. DuckDB reads every relation; the join is
        the array join's (`array_join`) when `engine` allows and its shape suits, else DuckDB's.
        """
        groups = self.query.groups()
        spine_group = groups[0]
        spine_cols = [(c.column, c.name) for c in self.columns if c.source == -1 and (with_labels or c.role != "label")]
        try:
            if spine_frame is None:
                snapshots[0].register(con, "spine_rows", event_time=spine_group.event_time, time_range=spine_range)
                order: tuple[str, ...] = tuple(spine_group.primary_key)
            else:
                frame = spine_frame.append_column("__row", pa.array(np.arange(spine_frame.num_rows, dtype=np.int64)))
                con.register("spine_input", frame)
                con.execute(f"CREATE TEMP VIEW spine_rows AS SELECT * FROM spine_input WHERE "
                            f"{spine_range.sql(spine_group.event_time)}")
                order = ("__row",)
                if spine_frame.num_rows:  # lets the joined reads skip files outside the spine's times
                    times = spine_frame[spine_group.event_time]
                    end = spine_range.end or pc.max(times).as_py() + timedelta(microseconds=1)
                    spine_range = TimeRange(start=spine_range.start or pc.min(times).as_py(), end=end)
            spine = SpineSource(relation="spine_rows", event_time=spine_group.event_time, order_by=order,
                                columns=tuple(spine_cols))
            joins = []
            for i, join in enumerate(self.query.joins):
                group = join.selection.group
                wanted = [
                    (c.column, c.name) for c in self.columns if c.source == i and (with_labels or c.role != "label")
                ]
                needed = list(
                    dict.fromkeys([*join.right_on, group.event_time, *group.primary_key, *(c for c, _ in wanted)])
                )
                _register_joined(con, snapshots[i + 1], f"group_{i}", event_time=group.event_time, columns=needed,
                                 spine=spine, keys=tuple(zip(join.left_on, join.right_on)), window=spine_range)
                joins.append(
                    JoinedSource(
                        relation=f"group_{i}",
                        spine_keys=join.left_on,
                        keys=join.right_on,
                        event_time=group.event_time,
                        primary_key=tuple(group.primary_key),
                        columns=tuple(wanted),
                        audit_name=f"{group.name}_v{group.version}",
                    )
                )
            where = None
            if self.query.condition is not None:
                where = self.query.condition.sql(self.query.column_for)
            if engine != "duckdb" and _arrays_suit(con, spine, joins, required=engine == "arrays"):
                result = _join_arrays(con, spine, joins, where)
                audit, order = leakage(result, joins), None
            else:
                # No ORDER BY: the order comes from the spine's read positions (`spine_order`). (Not
                # `preserve_insertion_order = false`: a global setting of the process's shared database.)
                result = con.sql(point_in_time_sql(spine, joins, where=where, ordered=False)).to_arrow_table()
                audit, order = leakage_audit(result, spine, joins), spine_order(result, spine)
        finally:
            con.close()
        leaks = {name: gap for name, gap in audit.items() if gap is not None and gap > 0}
        if leaks:
            raise FeatureStoreError(f"point-in-time join leaked future rows (seconds ahead of the spine): {leaks}")
        return JoinedRows(table=drop_hidden(result), order=order, audit=audit)

    def spine_frame(self, data: Any) -> pa.Table:
        """A caller's spine (DataFrame or Arrow) checked for the columns the join needs."""
        spine_group = self.query.groups()[0]
        table = to_arrow(data, "batch spine")
        needed = {spine_group.event_time, *(k for j in self.query.joins for k in j.left_on)}
        needed |= {c.column for c in self.columns if c.source == -1 and c.role != "label"}
        missing = sorted(needed - set(table.column_names))
        if missing:
            raise InvalidInputError(f"batch spine lacks column(s) {missing}; it has {table.column_names}")
        index = table.column_names.index(spine_group.event_time)
        times = to_utc_timestamp(table[spine_group.event_time], spine_group.event_time, "batch spine")
        return table.set_column(index, spine_group.event_time, times)


def _arrays_suit(con: duckdb.DuckDBPyConnection, spine: SpineSource, joins: Sequence[JoinedSource], *,
                 required: bool) -> bool:
    """Whether the array join handles this shape (from the relations' schemas, no rows read); when
    `required` and it does not, InvalidInputError says why."""
    def schema(relation: str, columns: Sequence[str]) -> pa.Schema:
        select = ", ".join(quote(c) for c in columns)
        return con.sql(f"SELECT {select} FROM {quote(relation)} LIMIT 0").to_arrow_table().schema

    reason = unsupported(schema(spine.relation, spine_columns(spine, joins)), spine,
                         [schema(j.relation, source_columns(j)) for j in joins], joins)
    if reason is not None and required:
        raise InvalidInputError(f"the array join does not handle this view: {reason}")
    return reason is None


def _join_arrays(con: duckdb.DuckDBPyConnection, spine: SpineSource, joins: Sequence[JoinedSource],
                 where: str | None) -> pa.Table:
    """The array join over the registered relations, read by DuckDB in their stored order; a view's
    filter is applied after the join, as in SQL."""
    def read(relation: str, columns: Sequence[str]) -> pa.Table:
        return con.sql(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(relation)}").to_arrow_table()

    result = join_arrays(read(spine.relation, spine_columns(spine, joins)), spine,
                         [read(j.relation, source_columns(j)) for j in joins], joins)
    if where is None:
        return result
    con.register("joined_rows", result)
    keep = con.sql(f"SELECT coalesce(({where}), false) FROM joined_rows").to_arrow_table().column(0)
    con.unregister("joined_rows")
    return result.filter(keep)


def _register_joined(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, name: str, *, event_time: str,
                     columns: Sequence[str], spine: SpineSource, keys: Sequence[tuple[str, str]],
                     window: TimeRange) -> None:
    """Register a joined group as `name`, reading only its rows inside the spine's time range when that is
    provably enough, else every row before the range's end.

    A spine row's as-of match is its key's latest row at or before its time. When every spine row has
    some row of its key in [range start, its own time], that latest row is inside the range too, so the
    rows before the range cannot change the join: checked by one anti-join on the pruned read. Otherwise
    (a key last seen before the range, or absent) the whole history before the range's end is read.
    """
    everything = TimeRange(end=window.end)
    if window.start is None:
        snapshot.register(con, name, event_time=event_time, columns=columns, time_range=everything)
        return
    recent = f"{name}__recent"
    snapshot.register(con, recent, event_time=event_time, columns=columns, time_range=window)
    on = " AND ".join(f"g.{quote(right)} = s.{quote(left)}" for left, right in keys)
    found = con.execute(
        f"SELECT count(*) FROM {quote(spine.relation)} s WHERE NOT EXISTS (SELECT 1 FROM {quote(recent)} g "
        f"WHERE {on} AND g.{quote(event_time)} <= s.{quote(spine.event_time)})"
    ).fetchone()
    if found is not None and found[0] == 0:
        con.execute(f"CREATE TEMP VIEW {quote(name)} AS SELECT * FROM {quote(recent)}")
    else:
        snapshot.register(con, name, event_time=event_time, columns=columns, time_range=everything)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas, column by column, releasing Arrow memory as it goes."""
    return table.to_pandas(self_destruct=True, split_blocks=True)


def split_xy(
    frame: pd.DataFrame,
    plan: ViewPlan,
    functions: Mapping[str, Any],
    *,
    primary_key: bool,
    event_time: bool,
    labels: bool = True,
) -> tuple[pd.DataFrame, pd.Series | pd.DataFrame | None]:
    """Turn a joined frame into (X, y) in place: drop unwanted columns, pop labels, transform."""
    keep = {c.name for c in plan.kept(primary_key=primary_key, event_time=event_time)}
    y = None
    if labels and plan.labels:
        y = frame.pop(plan.labels[0]) if len(plan.labels) == 1 else pd.DataFrame({k: frame.pop(k) for k in plan.labels})
    for name in list(frame.columns):
        if name not in keep:
            del frame[name]
    apply_transformations(frame, functions)
    return frame, y


def apply_transformations(frame: pd.DataFrame, functions: Mapping[str, Any]) -> None:
    """Replace each transformed feature by its output column(s), in place and in position."""
    for feature, function in functions.items():
        if feature not in frame.columns:
            continue
        out = function.transform(frame[feature])
        names = output_names(function, feature)
        position = frame.columns.get_loc(feature)
        if isinstance(out, pd.DataFrame):
            del frame[feature]
            for offset, name in enumerate(names):
                frame.insert(position + offset, name, out.iloc[:, offset].to_numpy())
        else:
            frame[feature] = np.asarray(out)
