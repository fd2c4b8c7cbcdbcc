"""Delta tables of rows by day (raw tables, batch scores): daily partitions replaced whole,
history tables rewritten whole.

Each partitioned raw table carries a `day` column (YYYY-MM-DD, UTC) as its Delta partition
column, so replacing a day is a metadata-cheap overwrite with a predicate on that column:
re-running a day never duplicates rows and never touches other days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

DAY_COLUMN = "day"


class DeltaDayTable:
    """One Delta table under `uri`, typed by an Arrow `schema`, optionally partitioned by UTC day."""

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        *,
        time_column: str | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.time_column = time_column  # set for daily-partitioned tables
        self.storage_options = dict(storage_options or {})

    @property
    def partitioned(self) -> bool:
        return self.time_column is not None

    def exists(self) -> bool:
        try:
            self._table()
            return True
        except TableNotFoundError:
            return False

    def version(self) -> int | None:
        return self._table().version() if self.exists() else None

    def replace_days(self, df: pd.DataFrame, days: Sequence[date]) -> dict[str, Any]:
        """Atomically replace the given days with `df` (one Delta commit); other days untouched."""
        if not self.partitioned:
            raise TypeError(f"{self.uri} is not partitioned by day; use replace_all")
        days = sorted(set(days))
        data = self._to_arrow(df)
        day_values = _day_strings(data.column(self.time_column))
        outside = set(pa.compute.unique(day_values).to_pylist()) - {d.isoformat() for d in days}
        if outside:
            raise ValueError(
                f"{self.uri}: rows fall outside the days being written {days[0]}..{days[-1]}: "
                f"found days {sorted(outside)[:5]}"
            )
        data = data.append_column(DAY_COLUMN, day_values)
        predicate = " OR ".join(f"{DAY_COLUMN} = '{d.isoformat()}'" for d in days)
        if not self.exists() and self._create(data):
            return {"rows": data.num_rows, "days": len(days), "delta_version": self.version()}
        write_deltalake(self.uri, data, mode="overwrite", predicate=predicate, storage_options=self.storage_options)
        return {"rows": data.num_rows, "days": len(days), "delta_version": self.version()}

    def _create(self, data: pa.Table) -> bool:
        """Create the table with `data` as version 0; False when another writer created it first (the
        caller then overwrites its days). No commit retry: delta-rs would otherwise turn the loser of
        the race for version 0 into an append of version 1, and the rows would be there twice."""
        try:
            write_deltalake(self.uri, data, mode="error", partition_by=[DAY_COLUMN],
                            storage_options=self.storage_options,
                            commit_properties=CommitProperties(max_commit_retries=0))
        except DeltaError:
            if self.exists():
                return False
            raise
        return True

    def replace_all(self, df: pd.DataFrame) -> dict[str, Any]:
        """Rewrite an unpartitioned history table (one Delta commit; older versions stay readable)."""
        data = self._to_arrow(df)
        write_deltalake(
            self.uri, data, mode="overwrite", schema_mode="overwrite", storage_options=self.storage_options
        )
        return {"rows": data.num_rows, "delta_version": self.version()}

    def append_changes(self, df: pd.DataFrame) -> dict[str, Any]:
        """Bring an unpartitioned history table to `df` by appending only the rows it does not hold yet
        (one small commit; none when nothing changed), so a daily refresh never rewrites the whole
        history. When `df` lacks stored rows or the stored layout differs (the history itself was
        rewritten at the source), the table is rewritten whole instead (`replace_all`)."""
        data = self._to_arrow(df)
        if not self.exists():
            return {**self.replace_all(df), "rows_appended": data.num_rows, "operation": "create"}
        table = self._table()
        stored_schema = pa.schema(table.schema().to_arrow())
        if [(f.name, f.type) for f in stored_schema] != [(f.name, f.type) for f in data.schema]:
            return {**self.replace_all(df), "rows_appended": 0, "operation": "rewrite"}
        stored = pa.RecordBatchReader.from_stream(table.scan(columns=data.schema.names)).read_all()
        incoming, kept = _row_hashes(data), _row_hashes(stored.cast(data.schema))
        if not np.isin(kept, incoming).all() or len(np.unique(incoming)) != len(incoming):
            return {**self.replace_all(df), "rows_appended": 0, "operation": "rewrite"}
        new = ~np.isin(incoming, kept)
        if not new.any():
            return {"rows": data.num_rows, "rows_appended": 0, "delta_version": table.version(), "operation": "none"}
        write_deltalake(self.uri, data.filter(pa.array(new)), mode="append", storage_options=self.storage_options)
        return {"rows": data.num_rows, "rows_appended": int(new.sum()), "delta_version": self.version(),
                "operation": "append"}

    def read(
        self, start: datetime | None = None, end: datetime | None = None, *, version: int | None = None
    ) -> pd.DataFrame:
        """Rows with time in [start, end) (whole table without bounds), typed by the schema."""
        table = self._table(version)
        predicate = None
        if self.partitioned and (start is not None or end is not None):
            days = ", ".join(f"'{d.isoformat()}'" for d in _days_covering(start, end))
            predicate = f"{DAY_COLUMN} IN ({days})"
        # delta-rs' own scan: its pyarrow-dataset path can abort the interpreter at exit (1.6.6). Batches
        # are filtered to [start, end) as they stream in, so only the asked rows are ever held.
        reader = pa.RecordBatchReader.from_stream(table.scan(columns=self.schema.names, predicate=predicate))
        bounded = self.partitioned and (start is not None or end is not None)
        batches = [batch.select(self.schema.names).cast(self.schema) for batch in reader]
        if bounded:
            batches = [_within(batch, self.time_column, start, end) for batch in batches]
        data = pa.Table.from_batches(batches, self.schema)
        order = [self.time_column, self.schema.names[0]] if self.partitioned else self.schema.names[:1]
        if not self.partitioned and "event_time" in self.schema.names:
            order.append("event_time")
        # Scans return files in no fixed order. Arrow's sort is stable with nulls last, as pandas'
        # stable sort_values (the keys are times, ids and card numbers: no NaN), at a third of its cost.
        data = data.take(pa.compute.sort_indices(data, [(name, "ascending") for name in order]))
        return data.to_pandas(date_as_object=False)

    def scan(self, columns: Sequence[str], *, days: Sequence[date] | None = None,
             exclude_days: Sequence[date] | None = None) -> pa.RecordBatchReader:
        """A stream of `columns` (the `day` column included if asked), restricted to or excluding some
        days: what DuckDB joins against without reading the table into memory."""
        predicate = None
        if days is not None:
            predicate = f"{DAY_COLUMN} IN ({', '.join(repr(d.isoformat()) for d in days)})" if days else "false"
        elif exclude_days:
            predicate = f"{DAY_COLUMN} NOT IN ({', '.join(repr(d.isoformat()) for d in exclude_days)})"
        if predicate == "false":
            schema = pa.schema([self._table().schema().to_arrow().field(c) for c in columns])
            return pa.RecordBatchReader.from_batches(schema, [])
        return pa.RecordBatchReader.from_stream(self._table().scan(columns=list(columns), predicate=predicate))

    def stored_type(self, column: str) -> pa.DataType | None:
        """The Arrow type the stored table keeps `column` as (None when absent)."""
        stored = pa.schema(self._table().schema().to_arrow())
        return stored.field(column).type if column in stored.names else None

    def days(self) -> list[str]:
        """The days present in a partitioned table."""
        if not self.exists():
            return []
        return sorted({p[DAY_COLUMN] for p in self._table().partitions()})

    def count(self) -> int:
        if not self.exists():
            return 0
        actions = pa.table(self._table().get_add_actions(flatten=True))
        return int(pa.compute.sum(actions.column("num_records")).as_py() or 0)

    def _table(self, version: int | None = None) -> DeltaTable:
        return DeltaTable(self.uri, version=version, storage_options=self.storage_options)

    def _to_arrow(self, df: pd.DataFrame) -> pa.Table:
        return pa.Table.from_pandas(df[self.schema.names], schema=self.schema, preserve_index=False)


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC window [day 00:00, next day 00:00)."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _within(batch: pa.RecordBatch, column: str, start: datetime | None, end: datetime | None) -> pa.RecordBatch:
    """The rows of `batch` whose `column` lies in [start, end)."""
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    times = pc.cast(batch.column(column), utc)
    tests = ([pc.greater_equal(times, pa.scalar(start, utc))] if start is not None else []) + (
        [pc.less(times, pa.scalar(end, utc))] if end is not None else [])
    keep = tests[0] if len(tests) == 1 else pc.and_(*tests)
    return batch.filter(keep)


def _row_hashes(data: pa.Table) -> np.ndarray:
    """One 64-bit hash per row over every column's value (equal rows of equally typed tables hash equal)."""
    frame = data.to_pandas(date_as_object=False)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _day_strings(times: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each time's UTC day as "YYYY-MM-DD" (the partition value), kept in Arrow: a cast to date32 and
    on to string gives strftime's text at a sixth of its cost, and no Python string per row."""
    import pyarrow.compute as pc

    return pc.cast(pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.date32()), pa.string())


def _days_covering(start: datetime | None, end: datetime | None) -> list[date]:
    if start is None or end is None:
        raise ValueError("read a partitioned table with both start and end, or with neither")
    first = start.astimezone(timezone.utc).date()
    last = (end.astimezone(timezone.utc) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
