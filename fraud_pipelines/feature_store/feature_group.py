"""A feature group: a versioned table of features keyed by a primary key and an event time.

Lazy until the first insert (like Hopsworks): `get_or_create_feature_group` returns a handle,
and the first `insert` fixes the schema and creates the Delta table and catalog entry.
Offline, every (primary key, event time) is kept (history); online, only each key's latest row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import online_replacement
from .context import StoreContext
from .errors import InvalidInputError, NotFoundError, SchemaMismatchError
from .input_batches import prepare, to_arrow
from .offline_store import PARTITION_TYPES, TimeRange
from .online_store import OnlineTableSpec
from .point_in_time import drop_hidden, latest_per_key_sql
from .query import FeatureRef, Query
from .specs import FeatureGroupSpec, suite_from_json
from .sql import as_utc, quote
from .statistics import compute_statistics


class FeatureGroup:
    """Handle on one feature group version; cheap to create, reads the catalog when needed."""

    def __init__(self, *, spec: FeatureGroupSpec, context: StoreContext) -> None:
        self.spec = spec
        self._context = context
        self._table = context.offline_table(spec.table_name)
        self._schema: pa.Schema | None = None

    def __repr__(self) -> str:
        return f"FeatureGroup({self.name!r}, version={self.version}, primary_key={list(self.primary_key)})"

    name = property(lambda self: self.spec.name, doc="The group's name.")
    version = property(lambda self: self.spec.version, doc="The group's version.")
    primary_key = property(lambda self: self.spec.primary_key, doc="Primary key columns.")
    event_time = property(lambda self: self.spec.event_time, doc="Event time column.")
    partition_key = property(lambda self: self.spec.partition_key, doc="Partition columns (maybe none).")
    online_enabled = property(lambda self: self.spec.online_enabled, doc="Whether inserts also go online.")
    description = property(lambda self: self.spec.description, doc="Free text.")

    @property
    def _where(self) -> str:
        return f"feature group {self.name} v{self.version}"

    # --- schema and query building -------------------------------------------------------

    def schema(self) -> pa.Schema:
        """The Arrow schema fixed by the first insert."""
        if self._schema is None:
            if not self._table.exists():
                raise NotFoundError(f"{self._where} has no data yet; insert a DataFrame first")
            self._schema = self._table.schema()
        return self._schema

    def column_names(self) -> list[str]:
        """Column names in stored order."""
        return list(self.schema().names)

    def select(self, features: Sequence[str]) -> Query:
        """A query over some of this group's columns."""
        return Query.select(self, features)

    def select_all(self, *, include_primary_key: bool = True, include_event_time: bool = True) -> Query:
        """A query over all columns (optionally without the primary key / event time)."""
        drop = set(() if include_primary_key else self.primary_key) | set(
            () if include_event_time else [self.event_time]
        )
        return Query.select(self, [c for c in self.column_names() if c not in drop])

    def select_except(self, features: Sequence[str]) -> Query:
        """A query over all columns but `features`."""
        unknown = [f for f in features if f not in self.column_names()]
        if unknown:
            raise InvalidInputError(f"{self._where} has no column(s) {unknown}")
        return Query.select(self, [c for c in self.column_names() if c not in set(features)])

    def __getitem__(self, column: str) -> FeatureRef:
        """A feature reference for filters: `fg["amount"] > 10`."""
        if column not in self.column_names():
            raise InvalidInputError(f"{self._where} has no column '{column}'")
        return FeatureRef(self.name, self.version, column)

    # --- writing ---------------------------------------------------------------------------

    def insert(
        self, df: pd.DataFrame | pa.Table, *, replace_time_range: tuple[Any, Any] | None = None
    ) -> dict[str, Any]:
        """Write rows; returns metrics (rows, delta_version, operation, seconds, validation...).

        Without `replace_time_range`: upsert on (primary key, event time) -- a row whose key and
        event time exist replaces it; rows that cannot collide are appended (fast path).
        With `replace_time_range=(start, end)`: every stored row with start <= event time < end
        is replaced by `df` in one commit (all of `df` must lie in the range); re-running a day
        therefore never duplicates rows and never touches other days.
        Checks and validation run before the commit, so a refused batch leaves nothing behind.
        Online-enabled groups then upsert each key's latest row online (never back in time); a key
        whose online row was removed offline by the replacement gets its newest remaining row, or
        leaves the online store (`online_replacement`).
        """
        started = time.perf_counter()
        window = _time_range(replace_time_range) if replace_time_range is not None else None
        stored = self._table.schema() if self._table.exists() else None
        incoming = to_arrow(df, self._where)
        if stored is None:
            self._check_new_schema(incoming)
        table, dropped = prepare(
            incoming, where=self._where, primary_key=self.primary_key,
            event_time=self.event_time, partition_key=self.partition_key, stored_schema=stored,
        )
        if window is not None:
            self._check_inside(table, window)
        report = self._validate(table)
        statistics = self._statistics(table)  # before writing: a bad config must not follow a commit
        validation = None if report is None else report.to_dict()
        if window is None and stored is not None and not table.num_rows:
            return {"rows": 0, "duplicates_dropped": dropped, "delta_version": self._table.version(),
                    "operation": "none", "online_rows": 0, "seconds": round(time.perf_counter() - started, 4),
                    "validation": validation}
        self._register()
        replaced = self._replaced_keys(window) if self.online_enabled and stored is not None else None
        operation, version, extra = self._write(table, window, first=stored is None)
        self._schema = None
        if replaced is not None and window is not None:
            self._withdraw_online(replaced, window)
        if statistics is not None:
            statistics.update(delta_version=version, operation=operation,
                              computed_at=datetime.now().astimezone().isoformat())
            self._context.catalog.write(f"statistics/{self.spec.table_name}/{version:012d}.json", statistics)
        online_rows = self._write_online(table) if self.online_enabled and table.num_rows else 0
        return {
            "rows": table.num_rows, "duplicates_dropped": dropped, "delta_version": version,
            "operation": operation, **extra, "online_rows": online_rows,
            "seconds": round(time.perf_counter() - started, 4), "validation": validation,
        }

    def _write(self, table: pa.Table, window: TimeRange | None, *, first: bool) -> tuple[str, int, dict[str, Any]]:
        """One Delta commit: replace a range, append (nothing can collide), or merge (upsert)."""
        keys = [*self.primary_key, self.event_time]
        if window is not None:
            version = self._table.replace_range(table, event_time=self.event_time, time_range=window,
                                                partition_by=self.partition_key)
            return "replace_time_range", version, {}
        if first or not self._table.colliding_rows(table, keys=keys, event_time=self.event_time):
            return "append", self._table.append(table, partition_by=self.partition_key), {}
        version, merge = self._table.merge(table, keys=keys, event_time=self.event_time)
        return "upsert", version, {f"rows_{k}": merge.get(f"num_target_rows_{k}") for k in ("inserted", "updated")}

    def _check_new_schema(self, table: pa.Table) -> None:
        for column in self.partition_key:
            if column in table.column_names and table.schema.field(column).type not in PARTITION_TYPES:
                raise InvalidInputError(
                    f"{self._where}: partition column '{column}' has type {table.schema.field(column).type}; "
                    "use a date, integer, string or boolean column"
                )

    def _check_inside(self, table: pa.Table, window: TimeRange) -> None:
        times = table[self.event_time]
        outside = pc.invert(pc.and_(pc.greater_equal(times, pa.scalar(window.start, times.type)),
                                    pc.less(times, pa.scalar(window.end, times.type))))
        count = pc.sum(outside).as_py() or 0
        if count:
            sample = [t.isoformat() for t in times.filter(outside)[:3].to_pylist()]
            raise InvalidInputError(
                f"{self._where}: {count} row(s) have {self.event_time} outside replace_time_range "
                f"[{window.start.isoformat()}, {window.end.isoformat()}), e.g. {sample}; nothing was written"
            )

    def _validate(self, table: pa.Table) -> Any:
        if not self.spec.expectations:
            return None
        from .validation import ValidationError, validate

        report = validate(table.to_pandas(), suite_from_json(self.spec.expectations),
                          suite_name=self.spec.table_name, id_columns=self.primary_key)
        if not report.success and self.spec.validation_policy == "strict":
            raise ValidationError(report, where=self._where)
        return report

    def _register(self) -> None:
        key = f"feature_groups/{self.name}/v{self.version}.json"
        stored = self._context.catalog.read(key)
        if stored is None:
            self._context.catalog.create(key, self.spec.to_dict())
        elif FeatureGroupSpec.from_dict(stored).structure() != self.spec.structure():
            raise SchemaMismatchError(f"{self._where} was registered with {stored}; create version + 1")

    def _statistics(self, table: pa.Table) -> dict[str, Any] | None:
        config = self.spec.statistics_config
        return compute_statistics(table, config) if config.enabled else None

    def online_table(self) -> OnlineTableSpec:
        """The online table spec of this group."""
        return OnlineTableSpec(name=self.spec.table_name, key_columns=self.primary_key,
                               event_time=self.event_time, schema=self.schema())

    def drop_online(self) -> None:
        """Remove this group's rows from the online store (nothing offline changes)."""
        if self.commit_details():
            self._context.online_store().teardown(self.online_table())

    def _replaced_keys(self, window: TimeRange | None) -> pa.Table | None:
        """Primary keys with stored rows in the range a replacement is about to remove."""
        if window is None:
            return None
        con = self._context.connect()
        try:
            return online_replacement.keys_in_range(con, self._table.snapshot(), primary_key=self.primary_key,
                                                    event_time=self.event_time, window=window)
        finally:
            con.close()

    def _withdraw_online(self, keys: pa.Table, window: TimeRange) -> None:
        """After a replacement: online rows of `keys` still in the range get the newest remaining row, or go."""
        if keys.num_rows == 0:
            return
        spec = self.online_table()
        con = self._context.connect()
        try:
            newest = online_replacement.newest_rows(con, self._table.snapshot(), keys, primary_key=self.primary_key,
                                                    event_time=self.event_time, columns=spec.schema.names)
        finally:
            con.close()
        online_replacement.withdraw_replaced(self._context.online_store(), spec, keys, newest, window)

    def _write_online(self, table: pa.Table) -> int:
        store = self._context.online_store()
        spec = self.online_table()
        store.update(spec)
        return store.write_batch(spec, table)

    # --- reading ---------------------------------------------------------------------------

    def read(
        self, start_time: Any = None, end_time: Any = None, *, version: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows with start_time <= event time < end_time, ordered by event time then primary key.

        `version` reads the table as it was after that Delta commit (ingestion-time travel).
        """
        window = TimeRange(start=None if start_time is None else as_utc(start_time, "start_time"),
                           end=None if end_time is None else as_utc(end_time, "end_time"))
        snapshot = self._table.snapshot(version) if self._table.exists() else self._missing()
        wanted = list(columns) if columns is not None else list(snapshot.schema.names)
        unknown = [c for c in wanted if c not in snapshot.schema.names]
        if unknown:
            raise InvalidInputError(f"{self._where} has no column(s) {unknown}")
        con = self._context.connect()
        try:
            snapshot.register(con, "fg", event_time=self.event_time, time_range=window)
            order = ", ".join(quote(c) for c in (self.event_time, *self.primary_key))
            sql = f"SELECT {', '.join(quote(c) for c in wanted)} FROM fg ORDER BY {order}"
            return _to_pandas(con.sql(sql).to_arrow_table())
        finally:
            con.close()

    def as_of(
        self, t: Any, *, by: Sequence[str] | None = None, lookback: timedelta | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Each key's latest row with event time <= t (ties: greatest primary key), ordered by key.

        `by` is the key (default: the primary key), e.g. `by=["cc_num"]` for each card's last
        transaction. `lookback` only considers rows with event time >= t - lookback, which lets
        the read skip older files; keys without a row in that window are absent.
        """
        at = as_utc(t, "as_of time")
        keys = list(by) if by is not None else list(self.primary_key)
        snapshot = self._table.snapshot() if self._table.exists() else self._missing()
        wanted = list(columns) if columns is not None else list(snapshot.schema.names)
        unknown = [c for c in [*keys, *wanted] if c not in snapshot.schema.names]
        if unknown:
            raise InvalidInputError(f"{self._where} has no column(s) {unknown}")
        window = TimeRange(start=None if lookback is None else at - lookback, end=at + timedelta(microseconds=1))
        needed = list(dict.fromkeys([*keys, self.event_time, *self.primary_key, *wanted]))
        con = self._context.connect()
        try:
            snapshot.register(con, "fg", event_time=self.event_time, columns=needed, time_range=window)
            sql = latest_per_key_sql("fg", keys=keys, event_time=self.event_time, primary_key=self.primary_key,
                                     columns=needed, at=at)
            result = drop_hidden(con.sql(sql).to_arrow_table())
        finally:
            con.close()
        return _to_pandas(result.select([*(k for k in keys if k not in wanted), *wanted]))

    def commit_details(self, limit: int | None = None) -> dict[int, dict[str, Any]]:
        """Delta commits, newest first: {version: {timestamp, operation, rows_inserted, ...}}."""
        if not self._table.exists():
            return {}
        details = {}
        for commit in self._table.history(limit):
            metrics = commit.get("operationMetrics", {}) or {}
            details[commit["version"]] = {
                "timestamp": datetime.fromtimestamp(commit["timestamp"] / 1000).astimezone().isoformat(),
                "operation": commit.get("operation"),
                "rows_inserted": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                "rows_updated": metrics.get("num_target_rows_updated"),
                "rows_deleted": metrics.get("num_deleted_rows", metrics.get("num_target_rows_deleted")),
                "parameters": commit.get("operationParameters", {}),
            }
        return details

    def statistics(self, version: int | None = None) -> dict[str, Any]:
        """Statistics computed on insert for Delta `version` (default: the latest commit with some)."""
        folder = f"statistics/{self.spec.table_name}"
        if version is not None:
            found = self._context.catalog.read(f"{folder}/{version:012d}.json")
            if found is None:
                raise NotFoundError(f"{self._where}: no statistics for Delta version {version}")
            return found
        keys = self._context.catalog.list(folder)
        if not keys:
            raise NotFoundError(f"{self._where}: no statistics yet (insert data, with statistics enabled)")
        found = self._context.catalog.read(keys[-1])
        assert found is not None
        return found

    def delta_version(self) -> int:
        """The latest Delta version (what a training dataset records)."""
        return self._table.version() if self._table.exists() else self._missing()

    def snapshot(self, version: int | None = None) -> Any:
        """A pinned, readable version of the offline table (used by feature views)."""
        return self._table.snapshot(version) if self._table.exists() else self._missing()

    def _missing(self) -> Any:
        raise NotFoundError(f"{self._where} has no data yet; insert a DataFrame first")


def _time_range(value: tuple[Any, Any]) -> TimeRange:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidInputError(f"replace_time_range must be (start, end), got {value!r}")
    start, end = as_utc(value[0], "replace_time_range start"), as_utc(value[1], "replace_time_range end")
    if not start < end:
        raise InvalidInputError(f"replace_time_range start {start} must be before end {end}")
    return TimeRange(start=start, end=end)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(self_destruct=True, split_blocks=True)
