"""Asset checks that give each day of a run its own result.

A check over a backfill range returning one `AssetCheckResult` is recorded with no partition: the
UI then counts every day as skipped and a failure marks no day. Here a check yields one
`AssetCheckEvaluation` per day, tied to that day's latest materialization, so the check's
partition view says which days passed and which failed. Days are validated in chunks (bounded
memory, few suite runs); only a failed chunk is validated again day by day to say which days are
bad. A blocking check still stops the run when any day fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import dagster as dg
import pandas as pd

# Not re-exported at the top level in 1.13: ties an evaluation to the materialization it checked.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from fraud_pipelines.feature_store.validation import ValidationReport, validate
from fraud_pipelines.partitions import days_in
from fraud_pipelines.per_day import rows_by_day, split_by_day
from fraud_pipelines.tables import day_window

#: Days validated at once: a long backfill's check never holds the whole range in memory.
CHUNK_DAYS = 10

Reader = Callable[[datetime, datetime], pd.DataFrame]
Suite = Callable[[datetime, datetime], list[Any]]


def report_metadata(report: ValidationReport) -> dict[str, Any]:
    """A GE report as check metadata: rows, expectations, failures with samples."""
    return {
        "rows": report.rows,
        "expectations": report.evaluated,
        "failed": len(report.failures),
        "failures": dg.MetadataValue.json([f.to_dict() for f in report.failures]),
    }


def daily_reports(read: Reader, suite: Suite, days: list[date], name: str, *, time_column: str = "datetime",
                  id_columns: tuple[str, ...] = ("tid",)) -> Iterator[tuple[date, ValidationReport]]:
    """Each day's validation report. A chunk that passes gives each day its own row count; a chunk that
    fails is validated day by day (a failure only across days, e.g. a tid repeated on two days,
    fails every day of the chunk)."""
    for i in range(0, len(days), CHUNK_DAYS):
        chunk = days[i : i + CHUNK_DAYS]
        start, end = day_window(chunk[0])[0], day_window(chunk[-1])[1]
        frame = read(start, end)
        report = validate(frame, suite(start, end), suite_name=name, id_columns=list(id_columns))
        if report.success:
            rows = rows_by_day(frame, time_column, chunk)
            for day in chunk:
                yield day, _with_rows(report, rows[day])
            continue
        per_day = split_by_day(frame, time_column, chunk)
        singles = {day: validate(per_day[day], suite(*day_window(day)), suite_name=name, id_columns=list(id_columns))
                   for day in chunk}
        across_days = all(r.success for r in singles.values())
        for day in chunk:
            yield day, report if across_days else singles[day]


def day_check_evaluations(context: dg.AssetCheckExecutionContext, read: Reader, suite: Suite, *,
                          time_column: str = "datetime") -> Iterator[Any]:
    """One evaluation per day of the check's partition window, then the check's (empty) output."""
    spec = context.check_specs[0]
    for day, report in daily_reports(read, suite, days_in(context.partition_time_window), spec.name,
                                     time_column=time_column):
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=report.success,
            partition=day.isoformat(),
            severity=dg.AssetCheckSeverity.ERROR,
            blocking=spec.blocking,
            description=f"{day}: {report.summary()}{_sources(context.instance, spec.asset_key, day, report)}",
            metadata={"day": day.isoformat(), **report_metadata(report)},
            target_materialization_data=_latest_materialization(context.instance, spec.asset_key, day.isoformat()),
        )
    yield dg.Output(None, output_name=context.op_def.output_defs[0].name)


def _sources(instance: dg.DagsterInstance, asset_key: dg.AssetKey, day: date, report: ValidationReport) -> str:
    """For a failed day: the files its stored rows came from, as its materialization recorded them."""
    if report.success:
        return ""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day.isoformat()]), limit=1).records
    if not records or records[0].asset_materialization is None:
        return ""
    files = records[0].asset_materialization.metadata.get("source_files")
    return f"\n  rows from: {files.value}" if files is not None else ""


def _latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey,
                            partition: str) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp)


def _with_rows(report: ValidationReport, rows: int) -> ValidationReport:
    return replace(report, rows=rows)
