"""Small helpers that turn DataFrames and reports into Dagster metadata the UI shows well."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd


def preview(df: pd.DataFrame, rows: int = 5) -> dg.MarkdownMetadataValue:
    """The first rows as a Markdown table."""
    if df.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False))


def time_range(df: pd.DataFrame, column: str) -> dict[str, Any]:
    """First and last event time, as text (empty frames give nothing)."""
    if df.empty:
        return {}
    return {"first_event_time": str(df[column].min()), "last_event_time": str(df[column].max())}


def table_metadata(df: pd.DataFrame, *, uri: str, time_column: str | None = None, **extra: Any) -> dict[str, Any]:
    """Row count, location, time range and a preview: what every table asset reports."""
    meta: dict[str, Any] = {
        "dagster/row_count": len(df),
        "dagster/uri": uri,
        "preview": preview(df),
    }
    if time_column:
        meta.update(time_range(df, time_column))
    meta.update(extra)
    return meta
