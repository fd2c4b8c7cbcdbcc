"""Small helpers that turn DataFrames and reports into Dagster metadata the UI shows well."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from fraud_pipelines.privacy.tokens import CARD_COLUMN


def preview(df: pd.DataFrame, rows: int = 5) -> dg.TableMetadataValue | dg.MarkdownMetadataValue:
    """The first rows as a table the UI shows inline, without the card column: a preview stays in the
    run history, so it must not carry a card's token past that card's erasure."""
    if df.empty:
        return dg.MetadataValue.md("_no rows_")
    return frame_table(df.head(rows).drop(columns=[CARD_COLUMN], errors="ignore"))


def frame_table(df: pd.DataFrame) -> dg.TableMetadataValue:
    """A small DataFrame as table metadata: Dagster's UI renders tables inline, while Markdown longer
    than 1,000 characters hides behind a "[Show Markdown]" link."""
    columns = [str(c) for c in df.columns]
    records = [dg.TableRecord(dict(zip(columns, (_cell(v) for v in row)))) for row in df.itertuples(index=False)]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, _kind(df[original]))
                                     for c, original in zip(columns, df.columns)])
    return dg.MetadataValue.table(records=records, schema=schema)


#: Largest integer a JavaScript number holds exactly (2**53 - 1).
_EXACT_IN_JS = 2**53 - 1


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or (not isinstance(value, (str, bytes)) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, int) and abs(value) > _EXACT_IN_JS:
        return str(value)  # the browser reads JSON numbers as doubles: ids and card numbers would change
    if isinstance(value, (int, float)):
        return value
    return str(value)


def _kind(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    if pd.api.types.is_float_dtype(column):
        return "float"
    return "string"


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
