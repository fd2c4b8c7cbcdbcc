"""The inbox: CSV or Parquet files dropped into `$FRAUD_HOME/inbox/` land in the right raw partitions.

A file names its table by its folder (`inbox/transactions/any.csv`) or by its name's prefix
(`inbox/fraud_labels_2025-01-03.parquet`); only the day-partitioned tables (`transactions`,
`fraud_labels`) come this way. A file holds whole UTC days: its rows replace the days they fall
on, in one Delta commit. Before anything is written it is checked like a landing file (columns and
types, `fraud_pipelines.raw.files`) and then by the table's Great Expectations suite over the days
it covers. A file that fails moves to `inbox/rejected/` next to a `<name>.error.txt` report and
nothing is written; an accepted file moves to `inbox/processed/`.

Names starting with `.` or `_`, or ending in `.tmp`/`.part`, are ignored: write a file under such
a name and rename it when complete, so a half-copied file is never read.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa

from feature_logic import schema
from fraud_pipelines.raw import suites
from fraud_pipelines.raw.files import SUFFIXES, RawInputError, read_file
from fraud_pipelines.settings import local_home, start_date
from fraud_pipelines.tables import DeltaDayTable, day_window

INBOX_TABLES = ("transactions", "fraud_labels")
REJECTED, PROCESSED = "rejected", "processed"
_IGNORED_PREFIXES = (".", "_")
_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload")


class InboxRejected(Exception):
    """A dropped file was refused: it has been moved aside with a report, nothing was written."""

    def __init__(self, message: str, *, moved_to: Path, report: Path) -> None:
        super().__init__(message)
        self.moved_to = moved_to
        self.report = report


@dataclass(frozen=True)
class InboxFile:
    """A file waiting in the inbox, with a fingerprint that changes when the file does."""

    path: Path
    relative: str
    fingerprint: str


@dataclass(frozen=True)
class Ingested:
    """What an accepted file wrote: the table, its days, rows, the Delta version, where the file went."""

    table: str
    days: list[date]
    rows: int
    delta_version: int | None
    moved_to: Path


def inbox_dir() -> Path:
    """The inbox folder (`$FRAUD_HOME/inbox`, local even when tables live on an object store)."""
    return local_home() / "inbox"


def pending_files(inbox: Path, *, settle_seconds: float = 0.0, now: float | None = None) -> list[InboxFile]:
    """Files waiting in the inbox (top level and one folder down, not processed/ or rejected/),
    unchanged for at least `settle_seconds`, in name order."""
    if not inbox.is_dir():
        return []
    clock = datetime.now(timezone.utc).timestamp() if now is None else now
    candidates = [p for p in inbox.iterdir() if p.is_file()]
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and p.name not in (REJECTED, PROCESSED)):
        candidates += [p for p in folder.iterdir() if p.is_file()]
    found = []
    for path in sorted(candidates):
        if path.name.startswith(_IGNORED_PREFIXES) or path.name.endswith(_IGNORED_SUFFIXES):
            continue
        stat = path.stat()
        if clock - stat.st_mtime < settle_seconds:
            continue
        found.append(InboxFile(path, path.relative_to(inbox).as_posix(), f"{stat.st_mtime_ns}-{stat.st_size}"))
    return found


def table_for(path: Path, inbox: Path) -> str:
    """The raw table a dropped file belongs to, from its folder or its name's prefix."""
    relative = path.relative_to(inbox)
    if len(relative.parts) > 1:
        folder = relative.parts[0]
        if folder in INBOX_TABLES:
            return folder
        raise RawInputError(f"{path}: folder '{folder}' is not a table the inbox takes; use one of "
                            f"{[f'inbox/{t}/' for t in INBOX_TABLES]}")
    for table in sorted(INBOX_TABLES, key=len, reverse=True):
        if path.name.startswith(table):
            return table
    raise RawInputError(f"{path}: cannot tell the table from the name; put it under inbox/<table>/ or start "
                        f"its name with the table, e.g. transactions_2025-01-03.csv (tables: {list(INBOX_TABLES)})")


def check_file(path: Path, table: str, *, today: date | None = None) -> tuple[pd.DataFrame, list[date]]:
    """The file's rows and the UTC days they cover, or a RawInputError naming what is wrong."""
    if path.suffix not in SUFFIXES:
        raise RawInputError(f"{path}: only {list(SUFFIXES)} files are read, not '{path.suffix or 'no suffix'}'")
    frame = _as_stored(path, read_file(path, schema.RAW_SCHEMAS[table]), schema.RAW_SCHEMAS[table])
    if frame.empty:
        raise RawInputError(f"{path}: the file has no rows; a file replaces whole days, so it must hold them")
    times = frame["datetime"]
    if times.isna().any():
        rows = frame.index[times.isna()][:3].tolist()
        raise RawInputError(f"{path}: column 'datetime' is empty in {int(times.isna().sum())} row(s), e.g. rows {rows}")
    days = sorted({d.date() for d in times.dt.tz_convert("UTC").dt.floor("D")})
    last_finished = (today or datetime.now(timezone.utc).date()) - timedelta(days=1)
    if days[0] < start_date():
        raise RawInputError(f"{path}: column 'datetime' has rows on {days[0]}, before the first daily partition "
                            f"{start_date()} (set FRAUD_START_DATE to change it)")
    if days[-1] > last_finished:
        raise RawInputError(f"{path}: column 'datetime' has rows on {days[-1]}, a UTC day not finished yet; "
                            f"daily partitions end at {last_finished}")
    start, end = day_window(days[0])[0], day_window(days[-1])[1]
    suite = suites.transactions_suite(start, end) if table == "transactions" else suites.fraud_labels_suite(start, end)
    from fraud_pipelines.feature_store.validation import validate

    report = validate(frame, suite, suite_name=f"raw_{table}_suite", id_columns=["tid"])
    if not report.success:
        raise RawInputError(f"{path}: failed the raw {table} checks.\n{report.summary()}")
    return frame, days


def _as_stored(path: Path, frame: pd.DataFrame, table_schema: pa.Schema) -> pd.DataFrame:
    """The rows typed exactly as the Delta table stores them (e.g. int8 labels), so the suite
    checks what would be written; a value that does not fit the column's type is refused."""
    columns = []
    for field in table_schema:
        try:
            columns.append(pa.array(frame[field.name], type=field.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise RawInputError(f"{path}: column '{field.name}' does not fit {field.type}: {error}") from None
    return pa.Table.from_arrays(columns, schema=table_schema).to_pandas(date_as_object=False)


def ingest_file(path: Path, inbox: Path, raw_table: Callable[[str], DeltaDayTable], *,
                today: date | None = None) -> Ingested:
    """Check `path`, then replace the days it covers in its raw table (`raw_table(name)`) in one
    commit and move it to processed/. A bad file is moved to rejected/ with a report
    (InboxRejected) and nothing is written."""
    try:
        table_name = table_for(path, inbox)
        frame, days = check_file(path, table_name, today=today)
    except RawInputError as error:
        moved, report = reject(path, inbox, str(error))
        raise InboxRejected(str(error), moved_to=moved, report=report) from error
    result = raw_table(table_name).replace_days(frame, days)
    moved = _move(path, inbox / PROCESSED)
    return Ingested(table_name, days, int(result["rows"]), result["delta_version"], moved)


def reject(path: Path, inbox: Path, reason: str) -> tuple[Path, Path]:
    """Move `path` to inbox/rejected/ and write `<name>.error.txt` beside it; returns both paths."""
    moved = _move(path, inbox / REJECTED)
    report = moved.with_name(moved.name + ".error.txt")
    report.write_text(
        f"file: {path}\nrejected at: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n\n"
        f"{reason}\n\nNothing was written. Fix the file and drop it into {inbox} again.\n"
    )
    return moved, report


def _move(path: Path, folder: Path) -> Path:
    """Move `path` into `folder`, never overwriting: a clashing name gets a UTC timestamp suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    return Path(shutil.move(str(path), str(target)))
