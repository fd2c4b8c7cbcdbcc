"""Great Expectations (1.x) validation of a DataFrame, reduced to a small, readable report.

One runner for every caller: feature-group inserts (policy "always" or "strict") and the
Dagster asset checks that guard raw tables. A failure names the expectation, the column and
a few offending values (with their row ids when `id_columns` are given).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from .errors import FeatureStoreError
from .expectations import Expectation, expectations_of
from .quick_checks import certainly_passes

_lock = threading.Lock()


@dataclass(frozen=True)
class ExpectationFailure:
    """One expectation that did not hold, with a sample of what broke it."""

    expectation: str
    column: str | None
    unexpected_count: int
    sample: list[Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "unexpected_count": self.unexpected_count,
            "sample": [_jsonable(v) for v in self.sample],
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of a suite on one DataFrame."""

    suite_name: str
    success: bool
    evaluated: int
    rows: int
    failures: list[ExpectationFailure] = field(default_factory=list)

    def summary(self) -> str:
        """A human-readable account: one line per failed expectation."""
        head = (
            f"suite '{self.suite_name}': {self.evaluated - len(self.failures)} of "
            f"{self.evaluated} expectations passed on {self.rows} rows"
        )
        return "\n".join([head, *(f"  - {f.message}" for f in self.failures)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_name": self.suite_name,
            "success": self.success,
            "evaluated": self.evaluated,
            "rows": self.rows,
            "failures": [f.to_dict() for f in self.failures],
        }


class ValidationError(FeatureStoreError):
    """Raised when a batch fails a suite under the "strict" policy; nothing was written."""

    def __init__(self, report: ValidationReport, where: str = "") -> None:
        self.report = report
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}data failed validation, nothing was written.\n{report.summary()}")


def validate(
    df: pd.DataFrame,
    expectations: Sequence[Any] | Any,
    *,
    suite_name: str = "suite",
    id_columns: Sequence[str] = (),
    sample_size: int = 5,
) -> ValidationReport:
    """Run `expectations` on `df`: `Expectation` specs, GE configuration dicts, GE Expectation objects or
    a GE ExpectationSuite. Great Expectations is imported only if something is left for it to judge."""
    items = expectations_of(expectations)
    if not items:
        return ValidationReport(suite_name, True, 0, len(df))
    specs = [Expectation.of(e) for e in items]
    ids = [c for c in id_columns if c in df.columns]
    # What vectorized pandas shows to pass by GE's own rules needs no GE run (`quick_checks`); GE
    # judges the rest: a pass/fail run first (about half the cost of a detailed one), then details
    # only for what failed.
    undecided = [_ge_expectation(item, spec) for item, spec in zip(items, specs) if not certainly_passes(df, spec)]
    if not undecided:
        return ValidationReport(suite_name, True, len(items), len(df))
    quick = _run(df, undecided, suite_name, {"result_format": "BOOLEAN_ONLY"})
    failed = [r.expectation_config.to_domain_obj() for r in quick.results if not r.success]
    if not failed:
        return ValidationReport(suite_name, True, len(items), len(df))
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": sample_size}
    if ids:
        result_format["unexpected_index_column_names"] = ids
    detailed = _run(df, failed, suite_name, result_format)
    failures = [_failure(r, ids, sample_size) for r in detailed.results if not r.success]
    return ValidationReport(suite_name, not failures, len(items), len(df), failures)


def _ge_expectation(item: Any, spec: Expectation) -> Any:
    """The GE object to run: a GE expectation as given, else the one its spec describes."""
    return item if hasattr(item, "configuration") else spec.to_ge()


def _run(df: pd.DataFrame, items: Sequence[Any], suite_name: str, result_format: dict[str, Any]) -> Any:
    """One GE run of `items` (GE Expectation objects) on `df`."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=suite_name, expectations=[e.copy() for e in items])
    with _lock:  # the ephemeral context is shared; GE batches are not thread-safe
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
        return batch.validate(suite, result_format=result_format)


def merge_reports(reports: Sequence[ValidationReport], *, sample_size: int = 5) -> ValidationReport:
    """One report for a table validated in chunks: counts add up, samples keep the first few."""
    if not reports:
        raise ValueError("merge_reports needs at least one report")
    merged: dict[tuple[str, str | None], ExpectationFailure] = {}
    for report in reports:
        for failure in report.failures:
            key = (failure.expectation, failure.column)
            seen = merged.get(key)
            if seen is None:
                merged[key] = failure
                continue
            count = seen.unexpected_count + failure.unexpected_count
            sample = (seen.sample + failure.sample)[:sample_size]
            rule = seen.message.split(" failed")[0]
            message = f"{rule} failed for {count} rows; e.g. {sample}" if count else seen.message
            merged[key] = ExpectationFailure(failure.expectation, failure.column, count, sample, message)
    rows = sum(r.rows for r in reports)
    failures = list(merged.values())
    return ValidationReport(reports[0].suite_name, not failures, reports[0].evaluated, rows, failures)


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """One in-memory GE context per process; creating one costs ~0.5 s."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _failure(result: Any, ids: Sequence[str], sample_size: int) -> ExpectationFailure:
    config = result.expectation_config
    kind = config.type
    column = config.kwargs.get("column")
    details: Mapping[str, Any] = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        reason = str(result.exception_info.get("exception_message")).splitlines()[0]
        where = f"column '{column}'" if column else "table"
        return ExpectationFailure(kind, column, 0, [], f"{kind} on {where} could not run: {reason}")
    count = int(details.get("unexpected_count") or 0)
    indexed = details.get("partial_unexpected_index_list") or []
    if ids and indexed:
        sample = [{k: _short_value(_jsonable(v)) for k, v in row.items()} for row in indexed[:sample_size]]
    else:
        sample = [_short_value(_jsonable(v)) for v in (details.get("partial_unexpected_list") or [])[:sample_size]]
    args = {k: v for k, v in config.kwargs.items() if k not in ("column", "batch_id", "result_format")}
    where = f"column '{column}'" if column else "table"
    if count:
        total = details.get("element_count")
        seen = f"{count} of {total} rows" if total is not None else f"{count} rows"
        message = f"{where}: {kind}({_short(args)}) failed for {seen}; e.g. {sample}"
    else:
        observed = details.get("observed_value")
        seen = repr(_jsonable(observed))
        seen = seen if len(seen) <= 300 else seen[:299] + "…"
        message = f"{where}: {kind}({_short(args)}) failed; observed {seen}"
    return ExpectationFailure(kind, column, count, sample, message)


#: Longest text kept of one offending value: a report never echoes more of the data than samples.
_MAX_VALUE_TEXT = 60


def _short_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_VALUE_TEXT:
        return value[: _MAX_VALUE_TEXT - 1] + "…"
    return value


def _short(args: Mapping[str, Any]) -> str:
    parts = []
    for key, value in args.items():
        if value is None:
            continue
        text = repr(sorted(value) if isinstance(value, (set, frozenset)) else value)
        parts.append(f"{key}={text if len(text) <= 400 else text[:397] + '...'}")
    return ", ".join(parts)


def _jsonable(value: Any) -> Any:
    """Plain Python values for metadata and error messages (numpy and pandas scalars included)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value
