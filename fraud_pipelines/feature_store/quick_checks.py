"""Vectorized pass verdicts for the common Great Expectations expectations, by GE's own pandas rules.

Great Expectations spends most of a suite's time in its metric machinery, not in the comparisons
(about 2 s per million rows for a six-expectation suite). `certainly_passes` evaluates an
expectation with the same pandas expressions GE's pandas engine uses (same null filtering, same
operators, same bounds) and answers True only when the expectation holds; anything it does not
fully know (another expectation type, an unknown argument, an empty column, nulls where GE's rule
depends on them, a dtype GE treats row by row, an error) answers False, and the caller lets GE
decide. A failure is therefore always GE's verdict, with GE's own details. It reads the plain
`Expectation` specs, so a suite that passes here never imports GE.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from .expectations import Expectation

#: Arguments that change nothing when every row passes (GE's own bookkeeping, `mostly` <= 1).
_NEUTRAL = {"batch_id", "result_format", "catch_exceptions", "meta", "notes", "description",
            "condition_parser", "row_condition", "mostly"}


def certainly_passes(df: pd.DataFrame, expectation: Expectation) -> bool:
    """True if `expectation` holds on `df` by GE's pandas rules; False when it fails or when this module
    cannot tell (GE then decides)."""
    check = _CHECKS.get(expectation.type)
    if check is None or df.empty:
        return False
    kwargs = dict(expectation.kwargs)
    known, verdict = check
    if kwargs.get("row_condition") or any(k not in known and k not in _NEUTRAL for k in kwargs):
        return False
    if not _mostly_ok(kwargs.get("mostly")):
        return False
    try:
        return bool(verdict(df, kwargs))
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


def _columns_match(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    expected = kwargs.get("column_list")
    return expected is not None and list(df.columns) == list(expected)


def _type_is(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    """A NumPy or time-zone-aware dtype spelled exactly as pandas names it: GE's pandas rule compares the
    column's dtype with the parsed name, which then holds (unit-less datetimes, string dtypes: GE)."""
    column, expected = _column(df, kwargs.get("column")), kwargs.get("type_")
    if column is None or not isinstance(expected, str):
        return False
    dtype = column.dtype
    if not isinstance(dtype, (np.dtype, pd.DatetimeTZDtype)) or str(dtype) != expected:
        return False
    parsed = pd.api.types.pandas_dtype(expected)
    if isinstance(parsed, np.dtype) and parsed.kind in "mM" and np.datetime_data(parsed)[0] == "generic":
        return False
    return bool(dtype == parsed)


def _not_null(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    column = _column(df, kwargs.get("column"))
    return column is not None and not column.isnull().any()


def _unique(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    column = _non_null(df, kwargs.get("column"))
    return column is not None and not column.duplicated().any()


def _in_set(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    column = _non_null(df, kwargs.get("column"))
    value_set = kwargs.get("value_set")
    if column is None or value_set is None or column.dtype.kind not in "iufO":
        return False
    return bool(column.isin(value_set).all())


def _between(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
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
    columns with float bounds and time-zone-aware times with aware datetime bounds (GE's vectorized
    path), or narrower integers and time-zone-naive times with naive datetime bounds, which GE compares
    row by row (or vectorized, for nanoseconds) with the same results. Bounds are GE's own values: its
    configuration holds number bounds as floats, so any other number is left to GE."""
    bounds = [b for b in (low, high) if b is not None]
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and (dtype in (np.dtype("int64"), np.dtype("float64"))
                                        or (dtype.kind in "iu" and dtype.itemsize <= 4)):
        return all(isinstance(b, float) for b in bounds)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return all(isinstance(b, datetime) and b.tzinfo is not None for b in bounds)
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return all(isinstance(b, datetime) and b.tzinfo is None for b in bounds)
    return False


def _compound_unique(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    """GE's pandas rule: no row repeats another on `column_list` (`duplicated(keep=False)`), over the rows
    `ignore_row_if` keeps; with no nulls in those columns every choice keeps every row."""
    names = kwargs.get("column_list")
    if not isinstance(names, (list, tuple)) or len(names) < 2 or len(set(names)) != len(names):
        return False
    if kwargs.get("ignore_row_if", "all_values_are_missing") not in ("all_values_are_missing",
                                                                       "any_value_is_missing", "never"):
        return False
    columns = [_column(df, name) for name in names]
    if any(c is None or c.isnull().any() for c in columns):
        return False
    return not df[list(names)].duplicated().any()


def _a_greater_than_b(df: pd.DataFrame, kwargs: Mapping[str, Any]) -> bool:
    a, b = _column(df, kwargs.get("column_A")), _column(df, kwargs.get("column_B"))
    if a is None or b is None or a.dtype != b.dtype or a.isnull().any() or b.isnull().any():
        return False
    if kwargs.get("ignore_row_if", "both_values_are_missing") not in ("both_values_are_missing",
                                                                         "either_value_is_missing", "neither"):
        return False
    return bool((a >= b).all() if kwargs.get("or_equal") else (a > b).all())


_Check = tuple[frozenset[str], Callable[[pd.DataFrame, Mapping[str, Any]], bool]]
_CHECKS: dict[str, _Check] = {
    "expect_table_columns_to_match_ordered_list": (frozenset({"column_list"}), _columns_match),
    "expect_column_type_to_be": (frozenset({"column", "type_"}), _type_is),
    "expect_column_values_to_not_be_null": (frozenset({"column"}), _not_null),
    "expect_column_values_to_be_unique": (frozenset({"column"}), _unique),
    "expect_column_values_to_be_in_set": (frozenset({"column", "value_set"}), _in_set),
    "expect_column_values_to_be_between": (frozenset({"column", "min_value", "max_value", "strict_min",
                                                      "strict_max"}), _between),
    "expect_column_pair_values_a_to_be_greater_than_b": (frozenset({"column_A", "column_B", "or_equal",
                                                                    "ignore_row_if"}), _a_greater_than_b),
    "expect_compound_columns_to_be_unique": (frozenset({"column_list", "ignore_row_if"}), _compound_unique),
}
