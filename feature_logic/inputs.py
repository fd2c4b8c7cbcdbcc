"""Checked conversions from input DataFrame columns to plain numpy arrays.

Every feature function starts here, so bad input fails with one clear message that names the
table, the column and a sample of the offending values, before anything is computed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SAMPLE_SIZE = 5
_MICROSECONDS_PER_DAY = 86_400_000_000


class FeatureInputError(ValueError):
    """An input table does not meet the raw data contract (`feature_logic.schema`)."""


def require_columns(frame: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    """Raise FeatureInputError naming every column of `columns` missing from `frame`."""
    if not isinstance(frame, pd.DataFrame):
        raise FeatureInputError(f"{table}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise FeatureInputError(
            f"{table}: missing column(s) {missing}; present: {list(frame.columns)}"
        )


def int64_keys(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    """The integer column `column` as int64, refusing nulls and non-integer values."""
    series = frame[column]
    if series.dtype == np.int64:  # the common case: no nulls possible, no copy
        return series.to_numpy()
    if series.isna().any():
        raise FeatureInputError(
            f"{table}.{column}: {int(series.isna().sum())} null value(s) at row(s) "
            f"{_sample(frame.index[series.isna().to_numpy()])}"
        )
    if not pd.api.types.is_integer_dtype(series.dtype):
        raise FeatureInputError(f"{table}.{column}: expected int64, got dtype {series.dtype}")
    return series.to_numpy(dtype=np.int64)


def transaction_ids(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    """Ids kept exactly as given: integer ids as int64, string ids as an object array of str.

    The type comes from the data (the data contract decides it upstream); nulls, floats and
    mixed types are refused. Order ids with `id_order`, never by comparing these arrays.
    """
    series = frame[column]
    if series.dtype == np.int64 or pd.api.types.is_integer_dtype(series.dtype):
        return int64_keys(frame, column, table)
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        raise FeatureInputError(f"{table}.{column}: expected int64 or string ids, got dtype {series.dtype}")
    missing = series.isna().to_numpy()
    if missing.any():
        raise FeatureInputError(
            f"{table}.{column}: {int(missing.sum())} null id(s) at row(s) {_sample(frame.index[missing])}"
        )
    values = series.to_numpy(dtype=object)
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if len(values) and kind != "string":
        odd = [v for v in values[:10_000] if not isinstance(v, str)]
        raise FeatureInputError(
            f"{table}.{column}: string ids must all be strings, found {kind} values, e.g. "
            f"{[repr(v)[:40] for v in odd[:_SAMPLE_SIZE]]}"
        )
    return values


def id_order(*ids: np.ndarray) -> list[np.ndarray]:
    """int64 keys that sort like the ids themselves, comparable across all the given arrays:
    int64 ids are their own keys; string ids get dense ranks over all arrays together, in
    lexicographic (code point) order -- the order DuckDB and Python give strings too."""
    kinds = {a.dtype == object for a in ids if len(a)}
    if kinds == {True, False}:
        raise FeatureInputError("tid: integer and string ids are mixed; one table's ids must all have one type")
    if kinds != {True}:
        return [a if a.dtype == np.int64 else a.astype(np.int64) for a in ids]
    joined = pa.array(np.concatenate(ids), type=pa.string())
    ranks = pc.rank(joined, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)
    bounds = np.cumsum([len(a) for a in ids])[:-1]
    return np.split(ranks, bounds)


def float64_values(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    """The numeric column `column` as float64 (nulls become NaN)."""
    series = frame[column]
    if series.dtype == np.float64:
        return series.to_numpy()
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise FeatureInputError(f"{table}.{column}: expected float64, got dtype {series.dtype}")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def utc_microseconds(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    """The timezone-aware timestamp column `column` as int64 microseconds since the epoch (UTC)."""
    series = frame[column]
    dtype = series.dtype
    aware = isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, pd.ArrowDtype)
        and pa.types.is_timestamp(dtype.pyarrow_dtype)
        and dtype.pyarrow_dtype.tz is not None
    )
    if not aware:
        raise FeatureInputError(
            f"{table}.{column}: expected a timezone-aware UTC timestamp, got dtype {dtype}"
        )
    values = series.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    missing = np.isnat(values)
    if missing.any():
        raise FeatureInputError(
            f"{table}.{column}: {int(missing.sum())} null timestamp(s) at row(s) "
            f"{_sample(frame.index[missing])}"
        )
    return values.view(np.int64)


def epoch_days(
    frame: pd.DataFrame, column: str, table: str, needed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The date column `column` as int64 days since 1970-01-01 and its null mask.

    Accepts what readers hand back for a date32 column: datetime.date objects, pyarrow dates,
    or datetime64 at midnight. With `needed` (a boolean mask), only those rows are converted
    (the others read as null): date objects cost ~50 ns a row.
    """
    series = frame[column]
    if pd.api.types.is_datetime64_any_dtype(series.dtype) and not isinstance(series.dtype, pd.ArrowDtype):
        as_days = series.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        missing = np.isnat(as_days)
        return np.floor_divide(as_days.view(np.int64), _MICROSECONDS_PER_DAY), missing
    try:
        if isinstance(series.dtype, pd.ArrowDtype):
            dates = pa.array(series)
            dates = (dates if needed is None else dates.filter(pa.array(needed))).cast(pa.date32())
        else:
            values = np.asarray(series) if needed is None else np.asarray(series)[needed]
            dates = pa.array(values, type=pa.date32(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as error:
        raise FeatureInputError(f"{table}.{column}: expected dates, got dtype {series.dtype}: {error}") from None
    subset_missing = dates.is_null().to_numpy(zero_copy_only=False)
    subset_days = dates.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
    if needed is None:
        return subset_days, subset_missing
    days = np.zeros(len(series), dtype=np.int64)
    missing = np.ones(len(series), dtype=bool)
    days[needed] = subset_days
    missing[needed] = subset_missing
    return days, missing


def require_unique(values: np.ndarray, index: pd.Index, what: str, shown: np.ndarray | None = None) -> None:
    """Raise FeatureInputError when `values` (e.g. tids, or their `id_order` keys) repeat,
    naming a sample of the repeats as `shown` (default: the values themselves) gives them."""
    ordered = np.sort(values)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    duplicated = pd.Index(values).duplicated(keep=False)
    named = (values if shown is None else shown)[duplicated]
    raise FeatureInputError(
        f"{what}: {int(duplicated.sum())} row(s) share a value that must be unique, e.g. "
        f"{_sample(np.unique(named))} at row(s) {_sample(index[duplicated])}"
    )


def utc_instant_microseconds(moment: dt.datetime, name: str) -> int:
    """A timezone-aware datetime (or pd.Timestamp) as microseconds since the epoch."""
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise FeatureInputError(f"{name}: expected a timezone-aware datetime, got {moment!r}")
    timestamp = pd.Timestamp(moment)
    if timestamp.unit == "ns":
        return timestamp.value // 1_000  # floor to the microsecond
    return int(timestamp.as_unit("us").asm8.view(np.int64))  # beyond the ns range (1677-2262) too


def take_or_missing(series: pd.Series, positions: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Values of `series` at `positions` (0-based), keeping its dtype; missing (None for object
    columns, NA otherwise) where a position is -1."""
    values = series.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        plain = np.asarray(series)
        if plain.dtype == object:
            if len(plain) == 0:
                return np.full(len(positions), None, dtype=object)
            taken = plain[positions]
            taken[positions < 0] = None
            return taken
        return pd.api.extensions.take(plain, positions, allow_fill=True)
    return values.take(positions, allow_fill=True)


def _sample(values: Iterable) -> list:
    return np.asarray(values)[:_SAMPLE_SIZE].tolist()
