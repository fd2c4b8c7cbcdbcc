"""Write-audit-publish for the feature groups: every chunk is validated before its Delta commit.

Each group's Great Expectations suite (`features/suites.py`, the one its blocking asset check
runs) is stored on the group with the "strict" validation policy, so `FeatureGroup.insert`
validates the in-memory chunk *before* the Delta commit: a refused chunk leaves the current Delta
version untouched and publishes nothing online (online rows are written only after a commit).
Validating the in-memory batch rather than staging a table costs no extra I/O, and the rows
checked are exactly the rows committed.

A run over many days writes one commit per chunk of `CHUNK_DAYS` days (memory stays bounded on
long backfills). The rule for a chunk refused mid-run: the run stops at once; chunks committed
earlier in the same run stay committed (and online) -- they were validated too -- and the error
names them (days and Delta versions), the refused chunk and every later chunk are not written.
Re-running the range after the fix replaces those days, so nothing is duplicated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from fraud_pipelines.feature_store.statistics import compute_statistics
from fraud_pipelines.feature_store.validation import ValidationError, ValidationReport
from fraud_pipelines.metadata import preview, time_range
from fraud_pipelines.per_day import (
    add_day_metadata,
    committed_materializations,
    describe_table,
    statistics_markdown,
    table_days,
    window_text,
)
from fraud_pipelines.tables import day_window

#: Days handled per feature-group commit inside one run; bounds memory on long backfills.
CHUNK_DAYS = 10
#: Upper bound on a refusal message (characters), whatever the values it samples.
MAX_MESSAGE = 2_000
_MAX_VALUE = 60
_MAX_FAILURES = 5


class FeatureGroupRefused(RuntimeError):
    """A chunk failed its group's suite before its commit; says what this run committed before it
    (`committed`: each committed day's metadata, so those days can still be reported materialized)."""

    def __init__(self, message: str, committed: dict[date, dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.committed = committed or {}


def chunks(days: list[date], size: int | None = None) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of at most `size` (default `CHUNK_DAYS`) days covering `days`."""
    size = size or CHUNK_DAYS
    for i in range(0, len(days), size):
        part = days[i : i + size]
        yield day_window(part[0])[0], day_window(part[-1])[1]


def write_by_chunks(context: dg.AssetExecutionContext, fg: Any, days: list[date], label: str,
                    build: Callable[[datetime, datetime], Any],
                    on_commit: Callable[[list[date], int], None] | None = None) -> tuple[int, Any]:
    """Build each chunk's rows with `build(start, end)` and replace that chunk in `fg` (validated
    before its commit), logging progress. Each committed day's own rows, time range, preview and
    statistics go to that day's materialization (`fraud_pipelines.per_day`). Returns the rows
    written and the last chunk. A refused chunk raises `FeatureGroupRefused` (see the module docstring).
    `on_commit(days, delta_version)` is called after each commit (e.g. to record the days' lineage)."""
    rows, last, started = 0, None, time.perf_counter()
    committed: list[tuple[datetime, datetime, int]] = []
    per_day: dict[date, dict[str, Any]] = {}
    for start, end in chunks(days):
        frame = build(start, end)
        try:
            metrics = fg.insert(frame, replace_time_range=(start, end))
        except ValidationError as error:
            raise FeatureGroupRefused(refusal_message(fg, error.report, start, end, committed), per_day) from None
        committed.append((start, end, metrics["delta_version"]))
        if on_commit is not None:
            on_commit([d for d in days if start.date() <= d < end.date()], metrics["delta_version"])
        described = describe_days(fg, frame, [d for d in days if start.date() <= d < end.date()],
                                  delta_version=metrics["delta_version"])
        add_day_metadata(context, described)
        per_day.update(described)
        rows, last = rows + len(frame), frame
        context.log.info(f"{label}: {window_text(start, end)} {len(frame):,} rows "
                         f"({rows:,} so far, {time.perf_counter() - started:.1f}s)")
    return rows, last


def write_days(context: dg.AssetExecutionContext, fg: Any, days: list[date], label: str,
               build: Callable[[datetime, datetime], Any],
               on_commit: Callable[[list[date], int], None] | None = None,
               ) -> Generator[dg.AssetMaterialization, None, tuple[int, Any]]:
    """`write_by_chunks` for a generator asset (`rows, last = yield from write_days(...)`): when a chunk
    is refused, the days committed before it are reported materialized, then the refusal is raised."""
    try:
        return write_by_chunks(context, fg, days, label, build, on_commit)
    except FeatureGroupRefused as refused:
        yield from committed_materializations(context, refused.committed)
        raise


def describe_days(fg: Any, frame: Any, days: list[date], *, delta_version: int) -> dict[date, dict[str, Any]]:
    """Each day's metadata from a committed chunk, with statistics as the group computes them. The days'
    statistics are computed side by side (a day is one DuckDB morsel, so each query runs on one thread;
    each day's figures are those of its own query, as one after the other)."""
    config = fg.spec.statistics_config
    tables = table_days(frame, fg.spec.event_time, days)
    stats: dict[date, Any] = dict.fromkeys(tables)
    if config.enabled and len(tables) > 1:
        with ThreadPoolExecutor(max_workers=min(len(tables), os.cpu_count() or 1)) as pool:
            stats = dict(zip(tables, pool.map(lambda table: compute_statistics(table, config), tables.values())))
    elif config.enabled:
        stats = {day: compute_statistics(table, config) for day, table in tables.items()}
    return {day: {**describe_table(table, fg.spec.event_time, stats[day]), "delta_version": delta_version}
            for day, table in tables.items()}


def refusal_message(fg: Any, report: ValidationReport, start: datetime, end: datetime,
                    committed: list[tuple[datetime, datetime, int]]) -> str:
    """Group, refused days, each failed expectation with its column and a few (shortened) sample
    values, and what this run had committed before; at most `MAX_MESSAGE` characters."""
    lines = [f"feature group {fg.name} v{fg.version} refused {report.rows:,} rows of {_days(start, end)}: "
             f"they failed its suite '{report.suite_name}', so nothing of them was written offline or online."]
    for failure in report.failures[:_MAX_FAILURES]:
        sample = [_short(value) for value in failure.sample[:3]]
        rule = failure.message.split(" failed")[0][:200]  # "column 'x': expectation(args)"
        count = (f"failed for {failure.unexpected_count:,} of {report.rows:,} rows" if failure.unexpected_count
                 else "failed")
        lines.append(f"  - {rule} {count}; e.g. {sample}")
    if len(report.failures) > _MAX_FAILURES:
        lines.append(f"  - and {len(report.failures) - _MAX_FAILURES} more failed expectation(s)")
    if committed:
        lines.append("Committed earlier in this run (validated, also online): "
                     f"{_days(committed[0][0], committed[-1][1])} "
                     f"as Delta versions {committed[0][2]}..{committed[-1][2]}; later days were not written. "
                     "Fix the input and re-run the whole range: its days are replaced, never duplicated.")
    else:
        lines.append("Nothing was committed in this run: every stored version is unchanged. "
                     "Fix the input (the raw table behind these columns) and re-run.")
    text = "\n".join(lines)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 15] + " ...[truncated]"


def typed_table(frame: pd.DataFrame, strings: tuple[str, ...]) -> pa.Table:
    """`frame` as Arrow, with the `strings` columns typed string even when every value is null
    (owner attributes of charges whose cards have no profile; string ids of an empty chunk): a
    group's schema never depends on which rows a chunk happened to hold. Integer ids are never
    null-typed, so "tid" is cast only when it holds strings or nothing."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in strings:
        index = table.schema.get_field_index(name)
        if index >= 0 and pa.types.is_null(table.schema.field(index).type):
            table = table.set_column(index, name, table.column(index).cast(pa.string()))
    return table


def group_metadata(fg: Any, written: pd.DataFrame | None, rows: int, spec: Any, **extra: Any) -> dict:
    """Rows, time range, preview and the statistics computed on insert."""
    meta = {
        "dagster/row_count": rows,
        "feature_group": f"{spec.name} v{spec.version}",
        "primary_key": ", ".join(spec.primary_key),
        "online_enabled": spec.online_enabled,
        "features": dg.MetadataValue.md(
            "\n".join(f"- `{name}`: {text}" for name, text in spec.feature_descriptions.items())
        ),
        **extra,
    }
    if isinstance(written, pa.Table):
        written = written.to_pandas()
    if written is not None and not written.empty:
        meta["preview"] = preview(written)
        meta.update(time_range(written, spec.event_time))
    statistics = fg.statistics()
    if statistics:  # partitioned groups: each day's own table overrides this (see `describe_days`)
        meta["statistics"] = statistics_markdown(statistics)
    return meta


def _days(start: datetime, end: datetime) -> str:
    return window_text(start, end)


def _short(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k)[:_MAX_VALUE]: _short(v) for k, v in list(value.items())[:4]}
    text = repr(value)
    return value if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."
