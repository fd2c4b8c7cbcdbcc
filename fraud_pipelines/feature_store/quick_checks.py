"""Vectorized pass verdicts for the common Great Expectations expectations, by GE's own pandas rules.

Great Expectations spends most of a suite's time in its metric machinery, not in the comparisons
(about 2 s per million rows for a six-expectation suite). `certainly_passes` evaluates an
expectation with the same pandas expressions GE's pandas engine uses (same null filtering, same
operators, same bounds) and answers True only when the expectation holds; anything it does not
fully know (another expectation type, an unknown argument, an empty column, nulls where GE's rule
depends on them, a dtype GE treats row by row, an error) answers False, and the caller lets GE
decide. A failure is therefore always GE's verdict, with GE's own details.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

#: Arguments that change nothing when every row passes (GE's own bookkeeping, `mostly` <= 1).
_NEUTRAL = {"batch_id", "result_format", "catch_exceptions", "meta", "notes", "description",
            "condition_parser", "row_condition", "mostly"}


def certainly_passes(df: pd.DataFrame, expectation: Any) -> bool:
    """True if `expectation` (a GE Expectation object) holds on `df` by GE's pandas rules; False when
    it fails or when this module cannot tell (GE then decides)."""
    check = _CHECKS.get(type(expectation).__name__)
    if check is None or df.empty:
        return False
    kwargs = dict(expectation.configuration.kwargs)
    known, verdict = check
    if kwargs.get("row_condition") or any(k not in known and k not in _NEUTRAL for k in kwargs):
        return False
    if not _mostly_ok(kwargs.get("mostly")):
        return False
    try:
        return bool(verdict(df, expectation, kwargs))
    except Exception:  # noqa: BLE001 (GE reports what went wrong, with its own message)
        return False


def _mostly_ok(mostly: Any) -> bool:
    return mostly is None or (isinstance(mostly, numbers.Real) and 0 <= mostly <= 1)


def _column(df: pd.DataFrame, name: Any) -> pd.Series | None:
    """The named column if the frame has exactly one of that name, whatever its case, else None."""
    if not isinstance(name, str) or [str(c).casefold() for c in df.columns].count(name.casefold()) != 1 \
            or name not in df.columns:
        return None
    return df[name]


def _non_null(df: pd.DataFrame, name: Any) -> pd.Series | None:
    """GE's domain of a column map expectation: the column without its nulls (None if nothing is left)."""
    column = _column(df, name)
    if column is None:
        return None
    if column.hasnans if column.dtype.kind in "fmM" else column.isnull().any():
        column = column[column.notnull()]
    return column if len(column) else None


def _columns_match(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    expected = kwargs.get("column_list")
    return expected is not None and list(df.columns) == list(expected)


def _type_is(df: pd.DataFrame, expectation: Any, kwargs: Mapping[str, Any]) -> bool:
    column = _column(df, kwargs.get("column"))
    if column is None or kwargs.get("type_") is None:
        return False
    return expectation._validate_pandas(actual_column_type=column.dtype, expected_type=kwargs["type_"])["success"]


def _not_null(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    column = _column(df, kwargs.get("column"))
    return column is not None and not column.isnull().any()


def _unique(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    column = _non_null(df, kwargs.get("column"))
    return column is not None and not column.duplicated().any()


def _in_set(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    column = _non_null(df, kwargs.get("column"))
    value_set = kwargs.get("value_set")
    if column is None or value_set is None or column.dtype.kind not in "iufO":
        return False
    return bool(column.isin(value_set).all())


def _between(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    column = _non_null(df, kwargs.get("column"))
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if column is None or (low is None and high is None) or not _vectorized_like_ge(column, low, high):
        return False
    if low is not None and high is not None and low > high:
        return False
    strict_min, strict_max = kwargs.get("strict_min"), kwargs.get("strict_max")
    inside = np.ones(len(column), dtype=bool)
    if low is not None:
        inside &= np.asarray(low < column if strict_min else low <= column, dtype=bool)
    if high is not None:
        inside &= np.asarray(column < high if strict_max else column <= high, dtype=bool)
    return bool(inside.all())


def _vectorized_like_ge(column: pd.Series, low: Any, high: Any) -> bool:
    """Whether GE compares this column and these bounds with the operators used above: int64/float64
    columns with number bounds and time-zone-aware times with aware datetime bounds (GE's vectorized
    path), or narrower integers, which GE compares row by row with the same results."""
    bounds = [b for b in (low, high) if b is not None]
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and (dtype in (np.dtype("int64"), np.dtype("float64"))
                                        or (dtype.kind in "iu" and dtype.itemsize <= 4)):
        return all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in bounds)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return all(isinstance(b, datetime) and b.tzinfo is not None for b in bounds)
    return False


def _a_greater_than_b(df: pd.DataFrame, _: Any, kwargs: Mapping[str, Any]) -> bool:
    a, b = _column(df, kwargs.get("column_A")), _column(df, kwargs.get("column_B"))
    if a is None or b is None or a.dtype != b.dtype or a.isnull().any() or b.isnull().any():
        return False
    if kwargs.get("ignore_row_if", "both_values_are_missing") not in ("both_values_are_missing",
                                                                         "either_value_is_missing", "neither"):
        return False
    return bool((a >= b).all() if kwargs.get("or_equal") else (a > b).all())


_Check = tuple[frozenset[str], Callable[[pd.DataFrame, Any, Mapping[str, Any]], bool]]
_CHECKS: dict[str, _Check] = {
    "ExpectTableColumnsToMatchOrderedList": (frozenset({"column_list"}), _columns_match),
    "ExpectColumnTypeToBe": (frozenset({"column", "type_"}), _type_is),
    "ExpectColumnValuesToNotBeNull": (frozenset({"column"}), _not_null),
    "ExpectColumnValuesToBeUnique": (frozenset({"column"}), _unique),
    "ExpectColumnValuesToBeInSet": (frozenset({"column", "value_set"}), _in_set),
    "ExpectColumnValuesToBeBetween": (frozenset({"column", "min_value", "max_value", "strict_min", "strict_max"}),
                                      _between),
    "ExpectColumnPairValuesAToBeGreaterThanB": (frozenset({"column_A", "column_B", "or_equal", "ignore_row_if"}),
                                                _a_greater_than_b),
}
