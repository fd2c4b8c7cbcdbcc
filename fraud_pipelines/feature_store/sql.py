"""Rendering identifiers and literal values into DuckDB SQL safely (quoted, escaped, typed)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInputError


def quote(identifier: str) -> str:
    """A double-quoted identifier, so any column name (spaces, capitals, keywords) is safe."""
    return '"' + identifier.replace('"', '""') + '"'


def as_utc(value: Any, what: str = "time") -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime, date, pandas Timestamp or ISO string.

    Naive values are read as UTC, like event times on insert.
    """
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except ValueError as exc:
            raise InvalidInputError(f"{what} {value!r} is not an ISO date or time") from exc
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            value = value.tz_localize("UTC")
        return value.tz_convert("UTC").to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    raise InvalidInputError(f"{what} must be a datetime, date, pandas Timestamp or ISO string, not {value!r}")


def timestamp_literal(value: dt.datetime) -> str:
    """A DuckDB TIMESTAMPTZ literal for an aware datetime (microsecond precision)."""
    utc = as_utc(value)
    return f"TIMESTAMPTZ '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"


def literal(value: Any) -> str:
    """A SQL literal for a filter value: numbers, strings, booleans, times, None, or a list of them."""
    if value is None:
        return "NULL"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"filter value {value!r} is not a finite number")
        return repr(float(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (dt.datetime, pd.Timestamp, np.datetime64)):
        return timestamp_literal(as_utc(value))
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, Sequence):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    raise InvalidInputError(f"cannot use {value!r} ({type(value).__name__}) as a filter value")
