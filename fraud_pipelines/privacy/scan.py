"""Look for given numbers (card numbers, tokens) in every file under a folder, whatever the format:
Parquet (Delta data and checkpoints) is decoded, SQLite databases are queried, and every file's bytes
are searched for the decimal text and the 8-byte big- and little-endian forms. What erasure and the
privacy tests use to show that nothing is left."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Finding:
    """One file holding one of the numbers, and where in it."""

    path: str
    where: str

    def __str__(self) -> str:
        return f"{self.path} ({self.where})"


def scan(root: str | Path, numbers: Iterable[int], *, skip: Iterable[str] = ()) -> list[Finding]:
    """Files under `root` (except the top-level folders named in `skip`) that hold any of `numbers`."""
    wanted = sorted({int(n) for n in numbers})
    if not wanted:
        return []
    root = Path(root)
    text = re.compile(r"(?<![0-9])(?:" + "|".join(str(n) for n in wanted) + r")(?![0-9])")
    binary = re.compile(b"|".join(re.escape(form) for n in wanted for form in _binary_forms(n)))
    skipped = {root / name for name in skip}
    findings: list[Finding] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if any(path.is_relative_to(s) for s in skipped):
            continue
        findings += _scan_file(path, set(wanted), text, binary)
    return findings


def _binary_forms(number: int) -> list[bytes]:
    forms = []
    for signed in (True, False):
        try:
            forms += [number.to_bytes(8, "big", signed=signed), number.to_bytes(8, "little", signed=signed)]
        except OverflowError:
            continue
    return list(dict.fromkeys(forms))


def _scan_file(path: Path, wanted: set[int], text: re.Pattern[str], binary: re.Pattern[bytes]) -> list[Finding]:
    data = path.read_bytes()
    found = []
    if text.search(data.decode("latin-1")):
        found.append(Finding(str(path), "decimal text"))
    if binary.search(data):
        found.append(Finding(str(path), "8-byte integer"))
    if data[:4] == b"PAR1":
        found += [Finding(str(path), f"Parquet column {c}") for c in _parquet_columns(path, wanted, text)]
    elif data[:16] == b"SQLite format 3\x00":
        found += [Finding(str(path), f"SQLite {c}") for c in _sqlite_columns(path, wanted, text)]
    return found


def _parquet_columns(path: Path, wanted: set[int], text: re.Pattern[str]) -> list[str]:
    table = pq.read_table(path)
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    hits = []
    values = pa.array(sorted(wanted), pa.uint64())
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_integer(column.type):
            numbers = pc.cast(column, pa.uint64(), safe=False)  # negative values cannot be card numbers or tokens
            if pc.any(pc.is_in(numbers, value_set=values)).as_py():
                hits.append(name)
        elif text.search(str(column.to_pylist())):
            hits.append(name)
    return hits


def _sqlite_columns(path: Path, wanted: set[int], text: re.Pattern[str]) -> list[str]:
    hits = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, int) and (value in wanted or value + 2**64 in wanted):
                        hits.append(table)
                        break
                    if isinstance(value, (str, bytes)) and text.search(
                            value if isinstance(value, str) else value.decode("latin-1")):
                        hits.append(table)
                        break
                else:
                    continue
                break
    return hits
