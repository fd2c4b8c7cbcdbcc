"""The offline store: one Delta table per feature group version, written with delta-rs and read
by DuckDB.

Writes are single Delta commits (append, merge, or overwrite with a predicate), so a failed
write leaves the table as it was. Reads name a table version (ingestion-time travel) and an
event-time range; files whose statistics or partition values cannot hold rows in the range
are skipped before DuckDB opens them. Local tables are read by DuckDB's own Parquet reader;
object-store tables through delta-rs' scan (DuckDB's `delta`/`httpfs` extensions may be
unavailable), so both paths honour `storage_options`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from .catalog import is_local_uri
from .errors import ConcurrentWriteError, NotFoundError
from .sql import quote, timestamp_literal

#: Delta keeps timestamp statistics in milliseconds; prune with a margin wider than that.
_STATS_MARGIN = timedelta(milliseconds=2)

#: Arrow types allowed as partition columns, and how DuckDB should type them from file paths.
PARTITION_TYPES: dict[pa.DataType, str] = {
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.bool_(): "BOOLEAN",
}

ReadEngine = Literal["auto", "duckdb_parquet", "delta_scan"]


@dataclass(frozen=True)
class TimeRange:
    """Event times `start <= t < end`; either end may be open (None)."""

    start: datetime | None = None
    end: datetime | None = None

    def sql(self, column: str, alias: str = "") -> str:
        """A SQL condition on `column`, or 'TRUE' when unbounded."""
        ref = f"{alias}.{quote(column)}" if alias else quote(column)
        parts = []
        if self.start is not None:
            parts.append(f"{ref} >= {timestamp_literal(self.start)}")
        if self.end is not None:
            parts.append(f"{ref} < {timestamp_literal(self.end)}")
        return " AND ".join(parts) or "TRUE"

    def pruning_filters(self, column: str) -> list[tuple[str, str, datetime]] | None:
        """delta-rs file pruning filters, widened so millisecond statistics never drop a file."""
        filters = []
        if self.start is not None:
            filters.append((column, ">=", self.start - _STATS_MARGIN))
        if self.end is not None:
            filters.append((column, "<=", self.end + _STATS_MARGIN))
        return filters or None


def default_memory_limit() -> str:
    """An eighth of physical memory (at least 1 GB): the most one read may hold before spilling.

    DuckDB's own default is 80%, which lets one big point-in-time join crowd out everything
    else on the machine; a bounded join spills its sorts to disk and costs a little time.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "2GB"
    return f"{max(1024, total // 8 // 2**20)}MB"


def connect(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB cursor that speaks UTC (times come back as `timestamp[us, tz=UTC]`), holds
    at most `memory_limit` (default: `default_memory_limit()`) and spills to a private temp folder.

    Cursors share one in-memory database per process and limit (opening a database costs
    ~14 ms, a cursor ~10 us); each cursor keeps its own registrations and temp views.
    """
    limit = memory_limit or default_memory_limit()
    key = (os.getpid(), limit)
    with _DATABASES_LOCK:
        database = _DATABASES.get(key)
        if database is None:
            database = duckdb.connect()
            spill = os.path.join(tempfile.gettempdir(), f"fraud_pipelines_duckdb_{os.getpid()}")
            database.execute("SET GLOBAL TimeZone = 'UTC'")
            database.execute(f"SET GLOBAL temp_directory = {_sql_string(spill)}")
            database.execute(f"SET GLOBAL memory_limit = {_sql_string(limit)}")
            _DATABASES[key] = database
    return database.cursor()


_DATABASES: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()


class DeltaTableStore:
    """One Delta table: create, append, upsert, replace a time range, read a version."""

    def __init__(self, uri: str, *, storage_options: Mapping[str, str] | None = None) -> None:
        self.uri = uri
        self.storage_options = dict(storage_options or {})

    def _open(self, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(self.uri, version=version, storage_options=self.storage_options or None)
        except TableNotFoundError as exc:
            raise NotFoundError(f"no Delta table at {self.uri}") from exc
        except Exception as exc:  # delta-rs reports an unknown version as a generic DeltaError
            if version is not None and "version" in str(exc).lower():
                raise NotFoundError(f"{self.uri} has no version {version}: {exc}") from exc
            raise

    def exists(self) -> bool:
        """True once the first commit is there."""
        return DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options or None)

    def version(self) -> int:
        """The latest committed version."""
        return self._open().version()

    def schema(self) -> pa.Schema:
        """The table's Arrow schema."""
        return pa.schema(self._open().schema().to_arrow())

    def append(self, table: pa.Table, *, partition_by: Sequence[str] = ()) -> int:
        """Add rows in one commit (creates the table on first use); returns the new version."""
        return self._write(table, mode="append", partition_by=partition_by)

    def replace_range(
        self, table: pa.Table, *, event_time: str, time_range: TimeRange, partition_by: Sequence[str] = ()
    ) -> int:
        """Replace every row with event time in the range by `table`, in one commit."""
        if not self.exists():
            created = self._create(table, partition_by=partition_by)
            if created is not None:
                return created
        predicate = _delta_range_predicate(event_time, time_range)
        return self._write(table, mode="overwrite", partition_by=partition_by, predicate=predicate)

    def merge(self, table: pa.Table, *, keys: Sequence[str], event_time: str) -> tuple[int, dict[str, Any]]:
        """Upsert on `keys` (which include the event time); returns the version and merge metrics."""
        times = table[event_time]
        bounds = TimeRange(start=_min(times), end=_max(times) + timedelta(microseconds=1))
        on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
        predicate = f"{on} AND {_delta_range_predicate(event_time, bounds, alias='t')}"
        try:
            metrics = (
                self._open()
                .merge(table, predicate, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        except CommitFailedError as exc:
            raise ConcurrentWriteError(f"another writer changed {self.uri} during the upsert: {exc}") from exc
        return self.version(), dict(metrics)

    def colliding_rows(self, table: pa.Table, *, keys: Sequence[str], event_time: str) -> int:
        """How many rows of `table` already exist (same keys incl. event time); 0 means append is safe."""
        if not self.exists():
            return 0
        snapshot = self.snapshot()
        times = table[event_time]
        window = TimeRange(start=_min(times), end=_max(times) + timedelta(microseconds=1))
        if not snapshot.files(event_time, window):
            return 0
        con = connect()
        try:
            snapshot.register(con, "stored", columns=keys, event_time=event_time, time_range=window)
            con.register("batch", table.select(list(keys)))
            on = " AND ".join(f"b.{quote(k)} = s.{quote(k)}" for k in keys)
            found = con.execute(f"SELECT count(*) FROM batch b JOIN stored s ON {on}").fetchone()
        finally:
            con.close()
        return int(found[0]) if found else 0

    def snapshot(self, version: int | None = None) -> Snapshot:
        """A readable, pinned version of the table (the latest when `version` is None)."""
        table = self._open(version)
        return Snapshot(
            table=table,
            version=table.version(),
            schema=pa.schema(table.schema().to_arrow()),
            partition_columns=tuple(table.metadata().partition_columns),
        )

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Delta commit infos, newest first."""
        return self._open().history(limit)

    def _create(self, table: pa.Table, *, partition_by: Sequence[str]) -> int | None:
        """Create the table with `table` as version 0; None when another writer created it first (the
        caller then replaces its range). No commit retry: delta-rs would otherwise turn the loser of the
        race for version 0 into an append of version 1, and the rows would be there twice."""
        try:
            write_deltalake(self.uri, table, mode="error", partition_by=list(partition_by) or None,
                            storage_options=self.storage_options or None,
                            commit_properties=CommitProperties(max_commit_retries=0))
        except DeltaError:
            if self.exists():
                return None
            raise
        return self.version()

    def _write(
        self, table: pa.Table, *, mode: Literal["append", "overwrite"], partition_by: Sequence[str],
        predicate: str | None = None,
    ) -> int:
        try:
            write_deltalake(
                self.uri,
                table,
                mode=mode,
                partition_by=list(partition_by) or None,
                predicate=predicate,
                storage_options=self.storage_options or None,
                commit_properties=CommitProperties(max_commit_retries=20),
            )
        except CommitFailedError as exc:
            raise ConcurrentWriteError(f"another writer changed {self.uri} during the write: {exc}") from exc
        return self.version()


@dataclass(frozen=True)
class Snapshot:
    """One version of a Delta table, registered into DuckDB connections on demand."""

    table: DeltaTable
    version: int
    schema: pa.Schema
    partition_columns: tuple[str, ...]

    def files(self, event_time: str, time_range: TimeRange | None = None) -> list[str]:
        """Data files that may hold rows in `time_range` (partition values and min/max statistics)."""
        filters = time_range.pruning_filters(event_time) if time_range else None
        return self.table.file_uris(file_pruning_predicate=filters)

    def register(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        *,
        event_time: str,
        columns: Sequence[str] | None = None,
        time_range: TimeRange | None = None,
        engine: ReadEngine = "auto",
    ) -> None:
        """Expose the rows in `time_range` (all when None) as the DuckDB view or table `name`."""
        columns = list(columns) if columns is not None else list(self.schema.names)
        window = time_range or TimeRange()
        if engine == "auto":
            engine = "duckdb_parquet" if is_local_uri(self.table.table_uri) else "delta_scan"
        files = self.files(event_time, window)
        if not files:
            con.register(name, self.schema.empty_table().select(columns))
            return
        if engine == "delta_scan":
            predicate = _delta_range_predicate(event_time, window) if window != TimeRange() else None
            # Streamed batch by batch into a DuckDB temp table (spills past the memory limit), never
            # gathered whole in Arrow memory; a table, not a view over the stream, so it can be read twice.
            reader = pa.RecordBatchReader.from_stream(self.table.scan(columns=columns, predicate=predicate))
            con.register(f"{name}__stream", reader)
            try:
                select = ", ".join(quote(c) for c in columns)
                source = quote(f"{name}__stream")
                con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS SELECT {select} FROM {source}")
            finally:
                con.unregister(f"{name}__stream")
            return
        paths = ", ".join(_sql_string(_local_path(f)) for f in files)
        hive = ""
        if self.partition_columns:
            types = ", ".join(
                f"{_sql_string(c)}: {_sql_string(PARTITION_TYPES[self.schema.field(c).type])}"
                for c in self.partition_columns
            )
            hive = f", hive_partitioning = true, hive_types = {{{types}}}"
        select = ", ".join(quote(c) for c in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS SELECT {select} "
            f"FROM read_parquet([{paths}]{hive}) WHERE {window.sql(event_time)}"
        )


def _delta_range_predicate(event_time: str, window: TimeRange, alias: str = "") -> str:
    """The same range in delta-rs (DataFusion) SQL: ISO literals compare with timestamps."""
    ref = f"{alias}.{quote(event_time)}" if alias else quote(event_time)
    parts = []
    if window.start is not None:
        parts.append(f"{ref} >= '{window.start.isoformat()}'")
    if window.end is not None:
        parts.append(f"{ref} < '{window.end.isoformat()}'")
    return " AND ".join(parts) or "TRUE"


def _min(times: pa.ChunkedArray) -> datetime:
    return pc.min(times).as_py()


def _max(times: pa.ChunkedArray) -> datetime:
    return pc.max(times).as_py()


def _local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else os.fspath(uri)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
