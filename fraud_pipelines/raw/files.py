"""Users' own raw data: CSV or Parquet files, checked against the raw contract before anything
is written.

Layout under the landing folder (default `$FRAUD_HOME/landing`):
`transactions/2025-01-03.csv` and `fraud_labels/2025-01-03.parquet` hold one UTC day each
(the file name is the day); `profiles/` and `credit_cards/` hold any number of files with the
table's whole history. Timestamps without a time zone are read as UTC.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

SUFFIXES = (".csv", ".parquet")


class RawInputError(ValueError):
    """A user file that does not fit the raw contract; the message names file, column and problem."""


def day_files(folder: Path, table: str, day: date) -> list[Path]:
    """The files holding `table`'s rows for `day`."""
    return [p for p in sorted((folder / table).glob(f"{day.isoformat()}*")) if p.suffix in SUFFIXES]


def history_files(folder: Path, table: str) -> list[Path]:
    """All files of an unpartitioned history table."""
    return [p for p in sorted((folder / table).glob("*")) if p.suffix in SUFFIXES]


def read_files(paths: list[Path], schema: pa.Schema) -> pd.DataFrame:
    """Read and type-check `paths` against `schema`; raise RawInputError on the first problem."""
    frames = [read_file(p, schema) for p in paths]
    if not frames:
        return empty_frame(schema)
    return pd.concat(frames, ignore_index=True)


def read_file(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """One file, coerced to the schema's types, or a RawInputError that says what is wrong."""
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    except Exception as exc:  # pandas/pyarrow raise many kinds for unreadable files
        raise RawInputError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from exc
    missing = [n for n in schema.names if n not in raw.columns]
    extra = [c for c in raw.columns if c not in schema.names]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing column(s) {missing}")
        if extra:
            problems.append(f"unexpected column(s) {extra}")
        raise RawInputError(f"{path}: {'; '.join(problems)}; expected exactly {schema.names}")
    out = {}
    for f in schema:
        out[f.name] = _coerce(raw[f.name], f.type, path, f.name)
    return pd.DataFrame(out)


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas(date_as_object=False)


def _coerce(values: pd.Series, kind: pa.DataType, path: Path, column: str) -> pd.Series:
    present = values.notna()
    if pa.types.is_integer(kind):
        parsed = pd.to_numeric(values, errors="coerce")
        bad = present & (parsed.isna() | (parsed != np.floor(parsed)))
        result = parsed
    elif pa.types.is_floating(kind):
        parsed = pd.to_numeric(values, errors="coerce")
        bad = present & parsed.isna()
        result = parsed.astype("float64")
    elif pa.types.is_timestamp(kind):
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        bad = present & parsed.isna()
        result = parsed.dt.as_unit("us")
    elif pa.types.is_date(kind):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        bad = present & parsed.isna()
        result = parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed
        result = result.dt.normalize().astype("datetime64[s]")
    else:
        bad = present & ~values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(True).astype(bool)
        result = values.astype(object)
    if bad.any():
        sample = values[bad].head(3).tolist()
        raise RawInputError(
            f"{path}: column '{column}' must be {kind}, but {int(bad.sum())} value(s) are not, e.g. {sample}"
        )
    if pa.types.is_integer(kind):
        if result.isna().any():
            return result.astype("Int64")
        return result.astype("int64")
    return result
