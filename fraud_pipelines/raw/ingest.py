"""Write–audit–publish for the raw tables: read a source, audit each batch, then commit it.

Days are committed in chunks of whole days (bounded memory on long backfills); each chunk is read
whole, audited (`fraud_pipelines.raw.audit`) and only then written in one Delta commit that
replaces exactly its days. One chunk's commit overlaps the reading and suite of the next. A refused
chunk leaves the table's current version untouched; the days
of earlier chunks of the same run were audited before their own commits and stay, and the error
says which days they are. Before anything is read, every file the run needs must be there and
named as the contract says (a missing day is an error naming the expected path).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_pipelines.contract import DataContract
from fraud_pipelines.per_day import days_text
from fraud_pipelines.privacy.tokens import CARD_COLUMN, TokenCollision, Tokenizer, tokenizer
from fraud_pipelines.raw.audit import RunTids, audit, check_against_stored, check_batch
from fraud_pipelines.raw.files import RawInputError
from fraud_pipelines.raw.messages import clip, paths
from fraud_pipelines.raw.sources import Part
from fraud_pipelines.tables import DeltaDayTable

#: Metadata key of the files (or generated days) a committed day's rows came from.
SOURCE_FILES = "source_files"
#: Rows written per Delta commit during a backfill: bounds memory whatever the range.
CHUNK_ROWS = 500_000


@dataclass
class Written:
    """What a run committed: rows per day, the Delta version, the audit's word, the origins read,
    and each committed day's description (from `ingest_days(describe=...)`)."""

    rows_per_day: dict[date, int] = field(default_factory=dict)
    per_day: dict[date, dict[str, Any]] = field(default_factory=dict)
    delta_version: int | None = None
    audit: str = ""
    origins: list[str] = field(default_factory=list)
    last: pd.DataFrame | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_per_day.values())


def ingest_days(table_name: str, days: Sequence[date], read_day: Callable[[date], list[Part]],
                table: DeltaDayTable, *, contract: DataContract, charges: DeltaDayTable | None = None,
                log: Callable[[str], None] = lambda _: None, chunk_rows: int | None = None,
                audited: bool = True, pseudonymized: bool = True,
                describe: Callable[[pd.DataFrame], dict[str, Any]] | None = None) -> Written:
    """Read, audit and commit `days` of a daily raw table, chunk by chunk; see the module docstring.

    A chunk's commit runs in the background while the next chunk is read and checked against the
    suite; the next chunk's rules against stored data wait for that commit, and commits stay in
    order. `describe(rows_of_one_day)` is recorded per committed day in `Written.per_day`.
    Card numbers are replaced by their tokens before the audit (`pseudonymize`).
    (`audited=False` and `pseudonymized=False` exist only so that bench/ can measure what they cost.)"""
    chunk_rows = chunk_rows or CHUNK_ROWS  # read at call time: settable per deployment
    cards = tokenizer() if pseudonymized else None
    written = Written()
    pending: list[tuple[date, list[Part]]] = []
    started = time.perf_counter()
    committing: Future | None = None
    run_tids = RunTids(table, days) if table_name == "transactions" else None

    def finish(job: Future | None) -> None:
        if job is None:
            return
        chunk, result, rows, described = job.result()
        written.rows_per_day.update(rows)
        written.per_day.update({day: {**meta, "delta_version": result["delta_version"]}
                                for day, meta in described.items()})
        written.delta_version = result["delta_version"]
        log(f"{table_name}: audited and committed {days_text(chunk[0], chunk[-1])} ({sum(rows.values()):,} rows; "
            f"{written.rows:,} so far, {time.perf_counter() - started:.1f}s)")

    def commit(frame: pd.DataFrame, chunk: list[date], rows: dict[date, int], described: dict[date, dict[str, Any]]):
        return chunk, table.replace_days(frame, chunk), rows, described

    def flush(writer: ThreadPoolExecutor) -> None:
        nonlocal committing
        chunk_days = [d for d, _ in pending]
        parts = [p for _, day_parts in pending for p in day_parts]
        frame = pd.concat([p.frame for p in parts], ignore_index=True) if parts else pd.DataFrame()
        if frame.empty:
            frame = _empty_like(table)
        origins = np.repeat(np.array([p.origin for p in parts], dtype=object), [len(p.frame) for p in parts])
        if cards is not None:
            frame = pseudonymize(frame, cards, origins)
        frame = as_stored(frame, table, origins)
        if audited:
            report = check_batch(table_name, frame, origins, contract=contract, days=chunk_days)
            written.audit = f"{report.evaluated} expectations and the cross-table rules passed before each commit"
        finish(committing)  # the previous chunk is stored before this one is checked against storage
        committing = None
        if audited:
            check_against_stored(table_name, frame, origins, contract=contract, days=chunk_days, stored=table,
                                 charges=charges, run_tids=run_tids)
        rows = {day: sum(len(p.frame) for p in day_parts) for day, day_parts in pending}
        described: dict[date, dict[str, Any]] = {}
        if describe is not None:  # rows are in day order: each day is a slice of the chunk
            offsets = np.cumsum([0, *rows.values()])
            described = {day: describe(frame.iloc[offsets[i]:offsets[i + 1]]) for i, day in enumerate(rows)}
            for day, day_parts in pending:  # where each day's rows came from: a failed check names them
                described[day][SOURCE_FILES] = ", ".join(sorted({p.origin for p in day_parts}))[:1_000]
        committing = writer.submit(commit, frame, chunk_days, rows, described)
        written.last = frame
        pending.clear()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commit-{table_name}") as writer:
        try:
            for day in days:
                parts = read_day(day)
                written.origins += [p.origin for p in parts]
                pending.append((day, parts))
                if sum(len(p.frame) for _, ps in pending for p in ps) >= chunk_rows:
                    flush(writer)
            if pending:
                flush(writer)
            finish(committing)
        except RawInputError as error:
            finish(committing)  # a valid chunk already being committed is completed, and named
            refused = RawInputError(f"{error}{_committed_note(written)}")
            refused.written = written  # what was committed before the refusal, for the caller to report
            raise refused from None
    return written


def ingest_history(table_name: str, parts: list[Part], table: DeltaDayTable, *,
                   contract: DataContract) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Audit a history table read whole, then store it in one commit that appends only its new rows (the
    whole table is rewritten only when the source changed rows it held before)."""
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    origins = np.repeat(np.array([p.origin for p in parts], dtype=object), [len(p.frame) for p in parts])
    frame = as_stored(pseudonymize(frame, tokenizer(), origins), table, origins)
    report = audit(table_name, frame, origins, contract=contract)
    result = table.append_changes(frame)
    return frame, result, f"{report.evaluated} expectations and the cross-table rules passed before the commit"


def pseudonymize(frame: pd.DataFrame, cards: Tokenizer, origins: np.ndarray) -> pd.DataFrame:
    """The rows with each card number replaced by its token (what every store keeps); columns the
    stored table does not keep, such as owners' names, are dropped later by `as_stored`."""
    if CARD_COLUMN not in frame.columns or frame.empty:
        return frame
    try:
        tokens = cards.tokens(frame[CARD_COLUMN])
    except TokenCollision as error:
        raise RawInputError(f"{paths(origins)}: {error}") from None
    except ValueError as error:
        raise RawInputError(f"{paths(origins)}: column '{CARD_COLUMN}': {clip(str(error), 300)}") from None
    return frame.assign(**{CARD_COLUMN: tokens})


def as_stored(frame: pd.DataFrame, table: DeltaDayTable, origins: np.ndarray) -> pd.DataFrame:
    """The rows typed exactly as the Delta table stores them, so the audit sees what would be written;
    a value that does not fit its column's type is refused."""
    columns = []
    for f in table.schema:
        if f.name not in frame.columns:
            raise RawInputError(f"{paths(origins)}: missing column '{f.name}'")
        try:
            columns.append(pa.array(frame[f.name], type=f.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise RawInputError(f"{paths(origins)}: column '{f.name}' does not fit {f.type}: "
                                f"{clip(str(error).splitlines()[0], 160)}") from None
    return pa.Table.from_arrays(columns, schema=table.schema).to_pandas(date_as_object=False)


def _committed_note(written: Written) -> str:
    if not written.rows_per_day:
        return ""
    days = sorted(written.rows_per_day)
    return (f"\n(Earlier chunks of this run were audited and committed: {days_text(days[0], days[-1])}, "
            f"{written.rows:,} rows; the refused days and every later day were not written.)")


def _empty_like(table: DeltaDayTable) -> pd.DataFrame:
    return table.schema.empty_table().to_pandas(date_as_object=False)
