"""Users' own raw files (CSV or Parquet), read exactly as the data contract declares them.

Reading is strict, because no accident may look like data: a file is read whole or refused; a
truncated last line, a row with too few fields, a value that does not parse, an id that would change
type or value, a float that would not round-trip, a timestamp that does not exist in its time zone —
each is refused with a bounded message naming the file, the column, the problem and a few samples.
CSV values are parsed by Arrow from their text (floats round-trip exactly); ids are kept exactly.
"""

from __future__ import annotations

import calendar
import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fraud_pipelines.privacy.tokens import CARD_COLUMN
from fraud_pipelines.privacy.tokens import mask as last_four
from fraud_pipelines.raw.messages import bounded, clip, names, samples

SUFFIXES = (".csv", ".parquet")
#: Names a table folder may hold besides its data files: hidden and bookkeeping files.
IGNORED_PREFIXES = (".", "_")
_MAX_HEADER_BYTES = 1 << 20
_EXACT_FLOAT_ID = 2**53
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_INTEGRAL_DECIMAL_TEXT = re.compile(r"^[+-]?\d+\.0*$")
_OFFSET = r"(?:Z|z|[+-]\d\d(?::?\d\d)?)$"
_ISO_DATE = r"^\d{4}-\d\d-\d\d$"
_BINARY_SIGNATURES = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"PAR1", "Parquet"), (b"BZh", "bzip2"),
                      (b"\xfd7zXZ", "xz"))
_EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}


class RawInputError(ValueError):
    """A user file that does not fit the contract; the message names file, column and problem."""

    def __init__(self, message: str) -> None:
        super().__init__(bounded(message))


@dataclass(frozen=True)
class ReadSpec:
    """What to make of one table's files: the target schema and the contract's declarations."""

    table: str
    schema: pa.Schema  # our columns and types, in order
    columns: dict[str, str] = field(default_factory=dict)  # their name -> ours
    formats: dict[str, str] = field(default_factory=dict)  # our column -> strptime format or epoch_*
    values: dict[str, dict] = field(default_factory=dict)  # our column -> {their value: ours}
    zone: ZoneInfo = ZoneInfo("UTC")  # naive timestamps are in this zone
    extra_columns: str = "refuse"
    optional: tuple[str, ...] = ()  # our columns the file may lack (filled later, e.g. event_time)
    delimiter: str = ","


def read_file(path: Path, spec: ReadSpec) -> pd.DataFrame:
    """One file, typed exactly as `spec.schema`, or a RawInputError that says what is wrong."""
    raw = _read_raw(path, spec)
    renamed = _map_columns(path, raw, spec)
    if renamed.num_rows == 0:
        return empty_frame(pa.schema([f for f in spec.schema if f.name in renamed.column_names]))
    columns, fields = [], []
    for f in spec.schema:
        if f.name not in renamed.column_names:
            continue
        values = renamed.column(f.name).combine_chunks()
        if f.name in spec.values:
            values = _map_values(values, spec.values[f.name])
        columns.append(_convert(values, f.type, path, f.name, spec))
        fields.append(f)
    table = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    return table.to_pandas(date_as_object=False)


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas(date_as_object=False)


# --- reading bytes into an Arrow table of their columns ---------------------------------------

def _read_raw(path: Path, spec: ReadSpec) -> pa.Table:
    if path.suffix == ".parquet":
        try:
            return pq.read_table(path)
        except Exception as error:  # pyarrow raises several kinds for damaged files
            raise RawInputError(f"{path}: cannot be read as Parquet ({_first_words(error)}); the file may be "
                                "damaged or cut short: write it again") from None
    if path.suffix != ".csv":
        raise RawInputError(f"{path}: only {list(SUFFIXES)} files are read, not '{path.suffix or 'no suffix'}'")
    size = path.stat().st_size
    if size == 0:
        raise RawInputError(f"{path}: the file is empty (0 bytes), not even a header line")
    with path.open("rb") as handle:
        magic = handle.read(4)
        for signature, kind in _BINARY_SIGNATURES:
            if magic.startswith(signature):
                fix = "name it .parquet" if kind == "Parquet" else "uncompress it first"
                raise RawInputError(f"{path}: this is a {kind} file, not CSV text; {fix}")
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            raise RawInputError(f"{path}: the last line does not end with a newline: the file looks cut short "
                                "(still copying, or truncated); if it is complete, end it with a newline")
    header = _header(path, spec.delimiter)
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=spec.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in header},
                                                 null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        text = str(error)
        counts = re.search(r"Expected (\d+) columns, got (\d+)", text)
        if counts:
            problem = (f"a row has {counts.group(2)} fields where the header has {counts.group(1)} "
                       "(a truncated or malformed line)")
        elif "UTF8" in text or "utf-8" in text.lower():
            problem = "it is not UTF-8 text (save it as UTF-8)"
        else:
            problem = _first_words(error)
        raise RawInputError(f"{path}: cannot be read as CSV: {problem}") from None


def _header(path: Path, delimiter: str) -> list[str]:
    with path.open("rb") as handle:
        raw = handle.readline(_MAX_HEADER_BYTES)
    if not raw.endswith((b"\n", b"\r")):
        raise RawInputError(f"{path}: the header line is longer than {_MAX_HEADER_BYTES:,} bytes or has no end")
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RawInputError(f"{path}: cannot be read as CSV: the header is not UTF-8 text") from None
    header = next(csv.reader([line], delimiter=delimiter))
    header = [h.strip() for h in header]
    if not any(header):
        raise RawInputError(f"{path}: the first line is empty; a CSV file starts with a header of column names")
    if len(header) == 1:
        other = next((d for d in (";", "\t", "|", ",") if d != delimiter and d in header[0]), None)
        if other:
            raise RawInputError(f"{path}: the header is one column; its fields look separated by {other!r}, not "
                                f"{delimiter!r}: set the table's `delimiter` in the data contract")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise RawInputError(f"{path}: the header repeats column(s) {names(repeated)}")
    return header


def _first_words(error: Exception) -> str:
    """The start of a library's error without echoing file content."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return clip(text.split(":")[0], 120)


def _map_columns(path: Path, raw: pa.Table, spec: ReadSpec) -> pa.Table:
    ours = list(spec.schema.names)
    renamed = [spec.columns.get(c, c) for c in raw.column_names]
    missing = [c for c in ours if c not in renamed and c not in spec.optional]
    extra = [c for c, r in zip(raw.column_names, renamed) if r not in ours]
    problems = []
    if missing:
        theirs = {v: k for k, v in spec.columns.items()}
        problems.append("missing column(s) " + names(f"{theirs[c]} (our {c})" if c in theirs else c for c in missing))
    if extra and spec.extra_columns == "refuse":
        problems.append(f"unexpected column(s) {names(extra)}")
    if problems:
        hint = ("map their names onto ours with the contract's `columns`, or set `extra_columns: ignore`"
                if spec.columns or extra else "")
        raise RawInputError(f"{path}: {'; '.join(problems)}; expected {names(ours, 12)}"
                            + (f" ({hint})" if hint else ""))
    twice = sorted({r for r in renamed if r in ours and renamed.count(r) > 1})
    if twice:
        clash = [c for c, r in zip(raw.column_names, renamed) if r in twice]
        raise RawInputError(f"{path}: columns {names(clash)} all map onto {names(twice)}; keep one (contract "
                            "`columns`)")
    keep = [i for i, r in enumerate(renamed) if r in ours]
    return pa.Table.from_arrays([raw.column(i) for i in keep], names=[renamed[i] for i in keep])


def _map_values(values: pa.Array, mapping: dict) -> pa.Array:
    """Their values replaced by ours (`values:` in the contract), compared as text."""
    text = pc.cast(values, pa.string()) if not pa.types.is_string(values.type) else values
    keys = pa.array([str(k) for k in mapping], pa.string())
    found = pc.index_in(text, value_set=keys)
    if pc.sum(pc.is_valid(found)).as_py() == 0:
        return text
    mapped = pa.array([str(v) for v in mapping.values()], pa.string())
    taken = pc.take(mapped, found)
    return pc.if_else(pc.is_valid(found), taken, text)


# --- converting one column to our type ---------------------------------------------------------

def _refuse(path: Path, column: str, problem: str, bad: pa.Array | list, count: int | None = None) -> RawInputError:
    sample = bad.to_pylist() if isinstance(bad, pa.Array) else bad
    number = len(sample) if count is None else count
    if column == CARD_COLUMN:  # a card number is shown by its last four digits only, even a malformed one
        sample = [last_four(v) for v in sample]
    return RawInputError(f"{path}: column '{column}': {number:,} value(s) {problem}, e.g. {samples(sample)}")


def _convert(values: pa.Array, kind: pa.DataType, path: Path, column: str, spec: ReadSpec) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = pc.utf8_trim_whitespace(values.cast(pa.string()))
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if pa.types.is_integer(kind):
        return _to_integer(values, kind, path, column)
    if pa.types.is_floating(kind):
        return _to_float(values, path, column)
    if pa.types.is_timestamp(kind):
        return _to_timestamp(values, path, column, spec)
    if pa.types.is_date(kind):
        return _to_date(values, path, column, spec)
    return _to_string(values, path, column)


def _nulls_refused(values: pa.Array, path: Path, column: str) -> None:
    if values.null_count:
        raise RawInputError(f"{path}: column '{column}' is empty in {values.null_count:,} row(s); "
                            "ids and labels must always be given")


def _to_integer(values: pa.Array, kind: pa.DataType, path: Path, column: str) -> pa.Array:
    _nulls_refused(values, path, column)
    if pa.types.is_boolean(values.type):
        values = values.cast(pa.int64())
    if pa.types.is_integer(values.type):
        as_int = values
    elif pa.types.is_floating(values.type):
        numbers = values.to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(numbers) | (numbers != np.floor(numbers)) | (np.abs(numbers) >= _EXACT_FLOAT_ID)
        if bad.any():
            raise _refuse(path, column, "are floats that are not exact integers below 2^53 (an id stored as a "
                                        "float loses digits; store it as an integer or text)",
                          numbers[bad][:3].tolist(), int(bad.sum()))
        as_int = pa.array(numbers.astype(np.int64))
    elif pa.types.is_string(values.type):
        plain = pc.match_substring_regex(values, _INTEGER_TEXT.pattern)
        integral = pc.match_substring_regex(values, _INTEGRAL_DECIMAL_TEXT.pattern)
        bad = pc.invert(pc.or_(plain, integral))
        if pc.any(bad).as_py():
            wrong = values.filter(bad)
            raise _refuse(path, column, f"are not whole numbers (expected {kind})", wrong[:3], len(wrong))
        digits = pc.replace_substring_regex(values, r"\.0*$", "")
        wide = pa.uint64() if pa.types.is_unsigned_integer(kind) else pa.int64()  # card numbers: 19 digits
        try:
            as_int = pc.cast(digits, wide)
        except pa.ArrowInvalid:
            too_big = [v for v in digits.to_pylist() if not _fits(int(v), wide)][:3]
            raise _refuse(path, column, f"do not fit a 64-bit {'unsigned ' if wide == pa.uint64() else ''}integer",
                          too_big) from None
        if pc.any(integral).as_py():
            decimal = as_int.filter(integral).to_numpy()
            big = np.abs(decimal) >= _EXACT_FLOAT_ID
            if big.any():
                raise _refuse(path, column, "are written as decimals ('.0') above 2^53: they may be floats that "
                                            "already lost digits; write ids as whole numbers",
                              decimal[big][:3].tolist(), int(big.sum()))
    else:
        raise RawInputError(f"{path}: column '{column}' holds {values.type} values; expected {kind}")
    try:
        return pc.cast(as_int, kind, safe=True)
    except (pa.ArrowInvalid, OverflowError):
        numbers = as_int.to_numpy(zero_copy_only=False)
        info = np.iinfo(kind.to_pandas_dtype())
        bad = (numbers < info.min) | (numbers > info.max)
        raise _refuse(path, column, f"do not fit {kind}", numbers[bad][:3].tolist(), int(bad.sum())) from None


def _fits(value: int, kind: pa.DataType) -> bool:
    return 0 <= value < 2**64 if kind == pa.uint64() else -(2**63) <= value < 2**63


def _to_float(values: pa.Array, path: Path, column: str) -> pa.Array:
    if pa.types.is_string(values.type):
        try:
            numbers = pc.cast(values, pa.float64())
        except pa.ArrowInvalid:
            bad = [v for v in values.to_pylist() if v is not None and not _parses_as_float(v)]
            raise _refuse(path, column, "are not numbers (expected double, '.' as decimal point, no units "
                                        "or thousands separators)", bad[:3], len(bad)) from None
    elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        numbers = pc.cast(values, pa.float64())
    else:
        raise RawInputError(f"{path}: column '{column}' holds {values.type} values; expected double")
    finite = pc.is_finite(numbers)
    if not pc.all(pc.or_(finite, pc.is_null(numbers))).as_py():
        wrong = values.filter(pc.invert(pc.fill_null(finite, True)))
        raise _refuse(path, column, "are not finite numbers (nan or infinity)", wrong[:3], len(wrong))
    return numbers


def _parses_as_float(text: str) -> bool:
    try:
        pc.cast(pa.array([text]), pa.float64())
        return True
    except pa.ArrowInvalid:
        return False


def _to_string(values: pa.Array, path: Path, column: str) -> pa.Array:
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.string())  # e.g. integer ids declared as text: their decimal digits
    if pa.types.is_large_string(values.type) or pa.types.is_dictionary(values.type):
        return pc.cast(values, pa.string())
    raise RawInputError(f"{path}: column '{column}' holds {values.type} values; expected text")


def _to_timestamp(values: pa.Array, path: Path, column: str, spec: ReadSpec) -> pa.Array:
    fmt = spec.formats.get(column)
    target = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(values.type):
        series = pd.Series(values.to_pandas(), copy=False)
        if values.type.tz is None:
            series = _localize(series, spec.zone, path, column, values)
        return _exact_us(series.dt.tz_convert("UTC"), path, column, values, target)
    if fmt in _EPOCH_UNITS:
        if not (pa.types.is_integer(values.type) or pa.types.is_string(values.type)):
            raise RawInputError(f"{path}: column '{column}' holds {values.type}; {fmt} needs whole numbers")
        numbers = _to_integer(values, pa.int64(), path, column)
        try:
            series = pd.to_datetime(pd.Series(numbers.to_numpy()), unit=_EPOCH_UNITS[fmt], utc=True)
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            raise _refuse(path, column, f"are out of range for {fmt}", numbers[:3]) from None
        return _exact_us(series, path, column, values, target)
    if not pa.types.is_string(values.type):
        raise RawInputError(f"{path}: column '{column}' holds {values.type} values; expected timestamps")
    text = pd.Series(values.to_pandas(), dtype=object)
    present = text.notna()
    aware = present & text.str.contains(_OFFSET, regex=True, na=False)
    naive = present & ~aware
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    how = (f"format {fmt!r} (contract `formats`)" if fmt
           else "ISO 8601, e.g. 2025-01-31 23:59:59 or 2025-01-31T23:59:59Z")
    for mask, is_aware in ((aware, True), (naive, False)):
        if not mask.any():
            continue
        parsed = pd.to_datetime(text[mask], format=fmt or "ISO8601", errors="coerce", utc=is_aware)
        failed = parsed.isna()
        if failed.any():
            raise _refuse(path, column, f"are not timestamps (years 1677 to 2262) in {how}",
                          text[mask][failed].head(3).tolist(),
                          int(failed.sum()))
        if not is_aware:
            parsed = _localize(parsed, spec.zone, path, column, values)
        out[mask] = parsed.dt.tz_convert("UTC")
    return _exact_us(out, path, column, values, target)


def _localize(series: pd.Series, zone: ZoneInfo, path: Path, column: str, original: pa.Array) -> pd.Series:
    try:
        return series.dt.tz_localize(zone, ambiguous="raise", nonexistent="raise")
    except Exception:  # pytz/zoneinfo raise AmbiguousTimeError / NonExistentTimeError
        localized = series.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        bad = series[localized.isna() & series.notna()].astype(str).head(3).tolist()
        raise _refuse(path, column, f"do not exist or are ambiguous in {zone.key} (a daylight-saving change); "
                                    "write them with a UTC offset", bad) from None


def _exact_us(series: pd.Series, path: Path, column: str, original: pa.Array, target: pa.DataType) -> pa.Array:
    values = series.to_numpy(dtype="datetime64[ns]") if series.dt.unit == "ns" else None
    if values is not None:
        ns = values.view(np.int64)
        sub = (~np.isnat(values)) & (ns % 1000 != 0)
        if sub.any():
            raise _refuse(path, column, "carry nanoseconds; timestamps are stored to the microsecond",
                          pd.Series(values[sub][:3]).astype(str).tolist(), int(sub.sum()))
    return pa.array(series.dt.as_unit("us"), type=target, from_pandas=True)


def _to_date(values: pa.Array, path: Path, column: str, spec: ReadSpec) -> pa.Array:
    fmt = spec.formats.get(column)
    if pa.types.is_date(values.type):
        return values.cast(pa.date32())
    if pa.types.is_timestamp(values.type):
        series = pd.Series(values.to_pandas())
        with_time = series.notna() & (series != series.dt.normalize())
        if with_time.any():
            raise _refuse(path, column, "are timestamps with a time of day; expected dates",
                          series[with_time].astype(str).head(3).tolist(), int(with_time.sum()))
        return pa.array(series.dt.tz_localize(None).dt.date if series.dt.tz is not None else series.dt.date,
                        type=pa.date32(), from_pandas=True)
    if not pa.types.is_string(values.type):
        raise RawInputError(f"{path}: column '{column}' holds {values.type} values; expected dates")
    text = pd.Series(values.to_pandas(), dtype=object)
    present = text.notna()
    if fmt is None:
        wrong = present & ~text.str.match(_ISO_DATE, na=False)
        if wrong.any():
            raise _refuse(path, column, "are not dates as YYYY-MM-DD (declare other formats in the contract's "
                                        "`formats`, e.g. '%m/%y')", text[wrong].head(3).tolist(), int(wrong.sum()))
    parsed = pd.to_datetime(text[present], format=fmt or "%Y-%m-%d", errors="coerce")
    failed = parsed.isna()
    if failed.any():
        how = f"format {fmt!r}" if fmt else "YYYY-MM-DD"
        raise _refuse(path, column, f"are not valid dates in {how}", text[present][failed].head(3).tolist(),
                      int(failed.sum()))
    dates = parsed.dt.date
    if fmt is not None and "%d" not in fmt and "%j" not in fmt and column == "expires":
        # A card valid through MM/YY is valid to the last day of that month.
        dates = dates.map(lambda d: d.replace(day=calendar.monthrange(d.year, d.month)[1]))
    out = pd.Series([None] * len(text), dtype=object)
    out[present.to_numpy()] = dates.to_numpy()
    return pa.array(out, type=pa.date32(), from_pandas=True)


# --- which files hold which day ----------------------------------------------------------------

def local_days(utc_day: date, zone: ZoneInfo) -> list[date]:
    """The days, in `zone`, that overlap the UTC day `utc_day`."""
    start = datetime(utc_day.year, utc_day.month, utc_day.day, tzinfo=ZoneInfo("UTC"))
    first = start.astimezone(zone).date()
    last = (start + timedelta(days=1) - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_of_name(stem: str, pattern: str) -> date | None:
    """The day a daily file's name stands for, if the name matches `pattern` exactly."""
    try:
        parsed = datetime.strptime(stem, pattern).date()
    except ValueError:
        return None
    return parsed if parsed.strftime(pattern) == stem else None
