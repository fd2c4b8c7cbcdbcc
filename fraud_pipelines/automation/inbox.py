"""The inbox: CSV or Parquet files dropped into `$FRAUD_HOME/inbox/` land in the right raw partitions.

A file names its table by its folder and its UTC day by its name (`inbox/transactions/2025-01-03.csv`),
or both by its name at the top of the inbox (`inbox/fraud_labels_2025-01-03.parquet`); only the
day-partitioned tables (`transactions`, `fraud_labels`) come this way. A file holds exactly one UTC
day and replaces it whole: a row of another day is refused, never written over that other day. The
file is read as the data contract declares (column names, formats, time zone of naive timestamps)
and goes through the same write–audit–publish path as a landing file (`fraud_pipelines.raw.ingest`).
A refused file moves to `inbox/rejected/<table>/` next to a `<name>.error.txt` report and nothing is
written; an accepted one moves to `inbox/processed/<table>/`.

Only regular files inside the inbox are read: every path is resolved and refused if it leaves the
inbox or passes through a link, so the inbox never reads anything outside it. Names starting with
`.` or `_`, or ending in `.tmp`/`.part`, are ignored: write a file under such a name and rename it
when complete, so a half-copied file is never read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from fraud_pipelines import contract as contracts
from fraud_pipelines.contract import DataContract
from fraud_pipelines.raw.files import SUFFIXES, RawInputError, day_of_name, read_file
from fraud_pipelines.raw.ingest import ingest_days
from fraud_pipelines.raw.messages import bounded, clip, samples
from fraud_pipelines.raw.sources import FileSource, Part
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
    """Files waiting in the inbox (top level and one real folder down, not processed/ or rejected/),
    unchanged for at least `settle_seconds`, in name order. Links are listed, never followed: the
    ingestion refuses them."""
    if not inbox.is_dir() or inbox.is_symlink():
        return []
    clock = datetime.now(timezone.utc).timestamp() if now is None else now

    def entries(folder: Path) -> list[Path]:
        return [p for p in folder.iterdir() if p.is_symlink() or p.is_file()]

    candidates = entries(inbox)
    for folder in sorted(p for p in inbox.iterdir()
                         if p.is_dir() and not p.is_symlink() and p.name not in (REJECTED, PROCESSED)):
        candidates += entries(folder)
    found = []
    for path in sorted(candidates):
        if path.name.startswith(_IGNORED_PREFIXES) or path.name.endswith(_IGNORED_SUFFIXES):
            continue
        stat = path.lstat()
        if clock - stat.st_mtime < settle_seconds:
            continue
        found.append(InboxFile(path, path.relative_to(inbox).as_posix(), f"{stat.st_mtime_ns}-{stat.st_size}"))
    return found


def resolve_inside(inbox: Path, relative: str) -> Path:
    """`relative` as a path inside the inbox, or a RawInputError: absolute paths, `..`, and links anywhere
    on the way are refused, so nothing outside the inbox is ever read."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
        raise RawInputError(f"{clip(relative, 120)}: not a path inside the inbox (absolute paths and '..' are refused)")
    root = inbox.resolve()
    path = root
    for part in candidate.parts:
        path = path / part
        if path.is_symlink():
            raise RawInputError(f"{clip(relative, 120)}: is or passes through a link; the inbox reads only regular "
                                "files inside it")
    if not path.resolve().is_relative_to(root):
        raise RawInputError(f"{clip(relative, 120)}: resolves outside the inbox")
    return path


def table_for(path: Path, inbox: Path) -> str:
    """The raw table a dropped file belongs to, from its folder or its name's prefix."""
    relative = path.relative_to(inbox)
    if len(relative.parts) > 1:
        folder = relative.parts[0]
        if folder in INBOX_TABLES and len(relative.parts) == 2:
            return folder
        raise RawInputError(f"{path}: '{clip(folder)}' is not a table folder the inbox takes; use one of "
                            f"{[f'inbox/{t}/' for t in INBOX_TABLES]}")
    for table in sorted(INBOX_TABLES, key=len, reverse=True):
        if path.name.startswith(table):
            return table
    raise RawInputError(f"{path}: cannot tell the table from the name; put it under inbox/<table>/ or start "
                        f"its name with the table, e.g. transactions_2025-01-03.csv (tables: {list(INBOX_TABLES)})")


def day_for(path: Path, table: str, inbox: Path) -> date:
    """The UTC day a dropped file holds, from its name (`2025-01-03.csv` or `<table>_2025-01-03.csv`)."""
    stem = path.stem
    if len(path.relative_to(inbox).parts) == 1:
        stem = stem[len(table):].lstrip("_-")
    day = day_of_name(stem, "%Y-%m-%d")
    if day is None:
        raise RawInputError(f"{path}: the name must say the UTC day the file holds, exactly "
                            f"inbox/{table}/YYYY-MM-DD.csv|parquet or inbox/{table}_YYYY-MM-DD.csv|parquet")
    return day


def check_day(path: Path, day: date, *, today: date | None = None) -> None:
    """Refuse days before the first partition or not finished yet."""
    last_finished = (today or datetime.now(timezone.utc).date()) - timedelta(days=1)
    if day < start_date():
        raise RawInputError(f"{path}: the day {day} is before the first daily partition {start_date()} (the data "
                            "contract's start_date, or FRAUD_START_DATE)")
    if day > last_finished:
        raise RawInputError(f"{path}: the day {day} is a UTC day not finished yet; daily partitions end at "
                            f"{last_finished}")


def read_file_for(path: Path, table: str, contract: DataContract) -> dict[str, pd.DataFrame]:
    """The file's rows per raw table (labels carried by a transactions file come out as their own table)."""
    if path.suffix not in SUFFIXES:
        raise RawInputError(f"{path}: only {list(SUFFIXES)} files are read, not '{clip(path.suffix) or 'no suffix'}'")
    labels_inside = contract.labels_from_transactions is not None
    if table == "fraud_labels" and labels_inside:
        raise RawInputError(f"{path}: the data contract takes labels from the transactions files "
                            "(tables.fraud_labels.from_transactions); drop transactions files instead")
    source = FileSource(contract, str(inbox_dir()))
    frame = read_file(path, source.read_spec(table))
    if not labels_inside or table != "transactions":
        return {table: frame}
    return {"transactions": source.as_table("transactions", frame),
            "fraud_labels": source.as_table("fraud_labels", frame)}


def ingest_file(path: Path, inbox: Path, raw_table: Callable[[str], DeltaDayTable], *,
                contract: DataContract | None = None, today: date | None = None) -> list[Ingested]:
    """Check `path`, then replace the day it holds in its raw table(s) (`raw_table(name)`) after the
    audit, and move it to processed/<table>/. A bad file is moved to rejected/ with a report
    (InboxRejected) and nothing is written."""
    contract = contract or contracts.active()
    table_name = None
    try:
        relative = path.relative_to(inbox).as_posix() if path.is_relative_to(inbox) else str(path)
        table_name = table_for(inbox / relative, inbox)
        path = resolve_inside(inbox, relative)
        if not path.is_file():
            raise RawInputError(f"{relative}: not a regular file")
        day = day_for(path, table_name, inbox)
        check_day(path, day, today=today)
        frames = read_file_for(path, table_name, contract)
        results = []
        for name in ("transactions", "fraud_labels"):
            if name not in frames:
                continue
            frame = frames[name]
            if frame.empty:
                raise RawInputError(f"{path}: the file has no rows; a file replaces its whole day, so an empty one "
                                    "would wipe it")
            _refuse_other_days(path, frame, day)
            written = ingest_days(name, [day], lambda _d, f=frame: [Part(str(path), f)], raw_table(name),
                                  contract=contract,
                                  charges=raw_table("transactions") if name == "fraud_labels" else None)
            results.append(Ingested(name, [day], written.rows, written.delta_version, path))
    except RawInputError as error:
        if not _movable(path, inbox):
            raise InboxRejected(f"{error} (left where it is: it is not inside the inbox)", moved_to=path,
                                report=path) from error
        moved, report = reject(path, inbox, str(error), table_name)
        raise InboxRejected(str(error), moved_to=moved, report=report) from error
    moved = _move(path, inbox / PROCESSED / results[0].table)
    return [Ingested(r.table, r.days, r.rows, r.delta_version, moved) for r in results]


def _movable(path: Path, inbox: Path) -> bool:
    """True when `path` itself lies in a real folder of the inbox (a link there is moved as a link)."""
    root = inbox.resolve()
    try:
        relative = path.relative_to(inbox)
    except ValueError:
        return False
    folder = root
    for part in relative.parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or part == "..":
            return False
    return path.parent.resolve().is_relative_to(root)


def _refuse_other_days(path: Path, frame: pd.DataFrame, day: date) -> None:
    start, end = day_window(day)
    times = frame["datetime"]
    outside = ((times < start) | (times >= end)).to_numpy()
    if outside.any():
        raise RawInputError(f"{path}: column 'datetime': {int(outside.sum()):,} row(s) are not on the file's UTC day "
                            f"{day}, e.g. {samples(times[outside].astype(str).tolist())}; a file replaces exactly its "
                            "own day, so put those rows in their own day's file")


def reject(path: Path, inbox: Path, reason: str, table: str | None = None) -> tuple[Path, Path]:
    """Move `path` (a link is moved as a link, never followed) to inbox/rejected/[<table>/] and write
    `<name>.error.txt` beside it; returns both paths."""
    moved = _move(path, inbox / REJECTED / table if table else inbox / REJECTED)
    report = moved.with_name(moved.name + ".error.txt")
    report.write_text(
        f"file: {clip(path, 300)}\nrejected at: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n\n"
        f"{bounded(reason)}\n\nNothing was written. Fix the file and drop it into {inbox} again.\n"
    )
    return moved, report


def _move(path: Path, folder: Path) -> Path:
    """Move `path` into `folder`, never overwriting: a clashing name gets a UTC timestamp suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists() or target.is_symlink():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)  # renames a link itself, never its target
    return target
