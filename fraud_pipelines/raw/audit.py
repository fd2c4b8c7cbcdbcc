"""The audit of write–audit–publish: new raw rows are checked before their Delta commit.

A batch is refused (RawInputError; nothing is committed) unless it passes the table's Great
Expectations suite (generated from the data contract) and the cross-table rules that one batch
alone cannot show: a tid is unique across every stored day; a label references a stored charge with
the same card and time; history tables hold no event time in the future (beyond the contract's
`future_skew`). Every refusal names the file(s) the offending rows came from.

The audit works on the in-memory batch, not on a staged table: the batch is already typed exactly
as it will be stored (`fraud_pipelines.raw.files`), so validating it costs one pass over memory
instead of a second write and read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
from deltalake import DeltaTable

from fraud_pipelines.contract import TIME_COLUMNS, DataContract, utc_now
from fraud_pipelines.feature_store.validation import ValidationReport, validate
from fraud_pipelines.raw import suites
from fraud_pipelines.raw.files import RawInputError
from fraud_pipelines.raw.messages import paths, samples
from fraud_pipelines.tables import DAY_COLUMN, DeltaDayTable, day_window

_ID = {"transactions": "tid", "fraud_labels": "tid", "profiles": "cc_num", "credit_cards": "cc_num"}


def audit(table: str, frame: pd.DataFrame, origins: Sequence[str], *, contract: DataContract,
          days: Sequence[date] = (), stored: DeltaDayTable | None = None,
          charges: DeltaDayTable | None = None) -> ValidationReport:
    """Check a batch of `table` before it is committed; return the suite's report or raise RawInputError.

    `origins` holds, row for row, where each row came from. `stored` is the table being written
    (for tid uniqueness across days); `charges` the stored transactions (for labels)."""
    report = check_batch(table, frame, origins, contract=contract, days=days)
    check_against_stored(table, frame, origins, contract=contract, days=days, stored=stored, charges=charges)
    return report


def check_batch(table: str, frame: pd.DataFrame, origins: Sequence[str], *, contract: DataContract,
                days: Sequence[date] = ()) -> ValidationReport:
    """The batch alone: the table's Great Expectations suite and, for histories, no future events."""
    origins = np.asarray(origins, dtype=object)
    start, end = (day_window(min(days))[0], day_window(max(days))[1]) if days else (None, None)
    report = validate(frame, suites.suite_for(table, start, end, contract), suite_name=f"raw_{table}_suite",
                      id_columns=[_ID[table]])
    if not report.success:
        raise RawInputError(f"{_files_of(report, frame, origins, _ID[table])}: refused by the {table} checks, nothing "
                            f"was written.\n{report.summary()}")
    if table in ("profiles", "credit_cards"):
        _no_future_events(table, frame, origins, contract.skew)
    return report


def check_against_stored(table: str, frame: pd.DataFrame, origins: Sequence[str], *, contract: DataContract,
                         days: Sequence[date] = (), stored: DeltaDayTable | None = None,
                         charges: DeltaDayTable | None = None, run_tids: RunTids | None = None) -> None:
    """The rules against what is stored: the id type kept, tids unique across days, labels matching charges.
    `run_tids` (one per run) carries the tids of the run's earlier chunks and of the other stored days."""
    origins = np.asarray(origins, dtype=object)
    _check_stored_type(table, stored, contract)
    if table == "transactions" and run_tids is not None:
        run_tids.check_and_add(frame, origins, days)
    elif table == "transactions" and stored is not None:
        _tids_unique_across_days(frame, origins, stored, days)
    if table == "fraud_labels":
        _labels_reference_charges(frame, origins, charges, days)


def _check_stored_type(table: str, stored: DeltaDayTable | None, contract: DataContract) -> None:
    if stored is None or not stored.exists() or "tid" not in contract.schema(table).names:
        return
    kept = stored.stored_type("tid")
    declared = contract.schema(table).field("tid").type
    if kept is not None and kept != declared:
        raise RawInputError(f"{stored.uri}: the stored {table} table keeps tid as {kept}, but the data contract "
                            f"declares tid_type {'string' if pa.types.is_string(declared) else 'int'}; keep the "
                            "contract's tid_type, or start a new $FRAUD_HOME for the new id type")


def _files_of(report: ValidationReport, frame: pd.DataFrame, origins: np.ndarray, id_column: str) -> str:
    """The files that the failures' sample rows came from (all the batch's files when unknown)."""
    ids = set()
    for failure in report.failures:
        for row in failure.sample:
            if isinstance(row, dict) and id_column in row:
                ids.add(row[id_column])
    if ids and id_column in frame.columns:
        hits = frame[id_column].isin(list(ids)).to_numpy()
        found = sorted(set(origins[hits]))
        if found:
            return paths(found)
    return paths(origins)


class RunTids:
    """The tids a run must not repeat: those stored on days outside the run, plus those of the run's
    chunks already audited. Each chunk is checked against only the stored days whose files may hold
    one of its tids (`days_that_may_hold`), so with ids that grow over time a check costs the chunk's
    size and a few days, not the whole history; with random ids it still reads every day."""

    def __init__(self, stored: DeltaDayTable, run_days: Sequence[date]) -> None:
        self._stored, self._run_days = stored, list(run_days)
        self._con: duckdb.DuckDBPyConnection | None = None

    def check_and_add(self, frame: pd.DataFrame, origins: np.ndarray, days: Sequence[date]) -> None:
        """Refuse tids already seen (naming their day); otherwise remember this chunk's."""
        if frame.empty:
            return
        batch = pa.table({"tid": pa.array(frame["tid"])})
        if self._con is None:
            self._con = duckdb.connect()
            self._con.register("batch", batch)
            self._con.execute("CREATE TABLE seen AS SELECT tid, CAST(NULL AS VARCHAR) AS day FROM batch LIMIT 0")
        self._con.register("batch", batch)
        candidates = (days_that_may_hold(self._stored, batch["tid"], exclude_days=self._run_days)
                      if self._stored.exists() else [])
        known = "seen"
        if candidates:
            self._con.register("stream", self._stored.scan(["tid", "day"], days=candidates))
            known = "(SELECT tid, day FROM seen UNION ALL SELECT tid, day FROM stream)"
        clashes = self._con.execute(f"SELECT s.tid, s.day, count(*) OVER () FROM {known} s JOIN batch b "
                                    "ON s.tid = b.tid ORDER BY s.day, s.tid LIMIT 3").fetchall()
        if candidates:
            self._con.unregister("stream")
        if clashes:
            _refuse_clashes(frame, origins, clashes)
        label = f"{min(days)}..{max(days)} in this run" if days else "this run"
        self._con.execute("INSERT INTO seen SELECT tid, ? FROM batch", [label])
        self._con.unregister("batch")


def days_that_may_hold(stored: DeltaDayTable, tids: pa.ChunkedArray | pa.Array,
                       exclude_days: Sequence[date] = ()) -> list[date]:
    """The stored days (other than `exclude_days`) with a data file whose tid statistics (min, max in the
    Delta log) overlap the range of `tids`, or that has none: no other day can hold one of `tids`.
    Reads only the Delta log, never a data file."""
    bounds = pa.compute.min_max(tids)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    actions = pa.table(DeltaTable(stored.uri, storage_options=stored.storage_options or None)
                       .get_add_actions(flatten=True))
    excluded = {d.isoformat() for d in exclude_days}
    days = actions[f"partition.{DAY_COLUMN}"].to_pylist()
    if low is None or "min.tid" not in actions.column_names or "max.tid" not in actions.column_names:
        return sorted({date.fromisoformat(d) for d in days if d not in excluded})
    kept = set()
    for day, first, last in zip(days, actions["min.tid"].to_pylist(), actions["max.tid"].to_pylist()):
        if day in excluded or day in kept:
            continue
        if first is None or last is None or not (last < low or first > high):  # no statistics: it may
            kept.add(day)
    return sorted(date.fromisoformat(d) for d in kept)


def _stored_clashes(stored: DeltaDayTable, days: Sequence[date], batch: pa.Table) -> list[tuple]:
    """Up to 3 (tid, day, count) of `batch`'s tids stored on `days`, first days first."""
    if not days:
        return []
    con = duckdb.connect()
    con.register("stored", stored.scan(["tid", "day"], days=list(days)))
    con.register("batch", batch)
    clashes = con.execute("SELECT s.tid, s.day, count(*) OVER () AS n FROM stored s JOIN batch b ON s.tid = b.tid "
                          "ORDER BY s.day, s.tid LIMIT 3").fetchall()
    con.close()
    return clashes


def _refuse_clashes(frame: pd.DataFrame, origins: np.ndarray, clashes: list[tuple]) -> None:
    tids = [row[0] for row in clashes]
    where = paths(origins[frame["tid"].isin(tids).to_numpy()])
    raise RawInputError(f"{where}: column 'tid': {clashes[0][2]:,} tid(s) are already stored on other days, "
                        f"e.g. {samples(f'{t} (stored on {d})' for t, d, _ in clashes)}; a tid names one "
                        "charge for ever. Nothing was written")


def _tids_unique_across_days(frame: pd.DataFrame, origins: np.ndarray, stored: DeltaDayTable,
                             days: Sequence[date]) -> None:
    if not stored.exists() or frame.empty:
        return
    batch = pa.table({"tid": pa.array(frame["tid"])})
    clashes = _stored_clashes(stored, days_that_may_hold(stored, batch["tid"], exclude_days=days), batch)
    if clashes:
        _refuse_clashes(frame, origins, clashes)


def _labels_reference_charges(frame: pd.DataFrame, origins: np.ndarray, charges: DeltaDayTable | None,
                              days: Sequence[date]) -> None:
    if frame.empty:
        return
    if charges is None or not charges.exists():
        raise RawInputError(f"{paths(origins)}: labels need their charges: no transactions are "
                            "stored yet; ingest raw_transactions for these days first. Nothing was written")
    stored = charges.scan(["tid", "cc_num", "datetime"], days=days)
    labels = pa.table({"row": pa.array(np.arange(len(frame))), "tid": pa.array(frame["tid"]),
                       "cc_num": pa.array(frame["cc_num"]), "datetime": pa.array(frame["datetime"])})
    con = duckdb.connect()
    con.register("charges", stored)
    con.register("labels", labels)
    rows = con.execute("""
        SELECT l.row, l.tid,
               CASE WHEN c.tid IS NULL THEN 'no stored charge has this tid'
                    WHEN c.cc_num <> l.cc_num THEN 'cc_num differs from its charge''s (' || c.cc_num || ')'
                    ELSE 'datetime differs from its charge''s (' || strftime(c.datetime, '%Y-%m-%d %H:%M:%S') || ')'
               END AS problem,
               count(*) OVER () AS n
        FROM labels l LEFT JOIN charges c ON l.tid = c.tid
        WHERE c.tid IS NULL OR c.cc_num <> l.cc_num OR c.datetime <> l.datetime
        ORDER BY l.row LIMIT 3""").fetchall()
    con.close()
    if rows:
        where = paths(origins[r[0]] for r in rows)
        first, last = min(days), max(days)
        raise RawInputError(
            f"{where}: {rows[0][3]:,} label(s) do not match a stored charge of {first}..{last} (same tid, cc_num and "
            f"datetime), e.g. {samples(f'tid {r[1]}: {r[2]}' for r in rows)}; ingest the charges first, or fix "
            "the labels. Nothing was written")


def _no_future_events(table: str, frame: pd.DataFrame, origins: np.ndarray, skew: timedelta) -> None:
    column = TIME_COLUMNS[table]
    limit = pd.Timestamp(utc_now() + skew)
    future = (frame[column] > limit).to_numpy()
    if future.any():
        sample = frame.loc[future, column].astype(str).head(3).tolist()
        raise RawInputError(
            f"{paths(origins[future])}: column '{column}': {int(future.sum()):,} row(s) lie in the "
            f"future (after now + future_skew {skew}), e.g. {samples(sample)}; a history cannot know what has "
            "not happened yet. Nothing was written")


def report_metadata(report: ValidationReport) -> dict[str, Any]:
    """What the audit shows on the materialization."""
    return {"audit": f"{report.evaluated} expectations passed on {report.rows:,} rows before the commit"}

