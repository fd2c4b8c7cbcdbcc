"""What each stored feature day was built from, so a day built on inputs that changed since is found.

A day of `transactions_fg` reads its own raw day and the previous day's features (each card's last
charge); a day of `transactions_4h_aggs` reads that day and the previous one of `transactions_fg`.
Each build records a stamp of every input it read: for a raw day, a digest of the Delta data files
that hold it (a replacement by any path, landing or inbox, writes new files); for a feature day, the
Delta version of the commit that last wrote it. A stored day is out of date when an input's stamp
differs now, or when a day it read is itself out of date; the first such day and every later built
day must be rebuilt, in order. Stored as a small Delta table beside the feature store.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from fraud_pipelines.tables import DAY_COLUMN, DeltaDayTable

TRANSACTIONS = "transactions_fg"
WINDOWS = "transactions_4h_aggs"
ONE_DAY = timedelta(days=1)
_SCHEMA = pa.schema([("asset", pa.string()), ("day", pa.string()), ("stamp", pa.int64()),
                     ("inputs", pa.string()), ("built_at", pa.timestamp("us", tz="UTC"))])


@dataclass(frozen=True)
class DayBuild:
    """One stored day of an asset: the Delta version that wrote it and the stamps of what it read."""

    asset: str
    day: date
    stamp: int
    inputs: dict[str, str] = field(default_factory=dict)


class DayLineage:
    """The lineage table under `uri` (a Delta table of one row per asset and day)."""

    def __init__(self, uri: str, *, storage_options: Mapping[str, str] | None = None) -> None:
        self.uri = uri
        self.storage_options = dict(storage_options or {})

    def builds(self, asset: str) -> dict[date, DayBuild]:
        """Every recorded day of `asset`."""
        if not DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options or None):
            return {}
        table = DeltaTable(self.uri, storage_options=self.storage_options or None)
        data = pa.RecordBatchReader.from_stream(
            table.scan(columns=["asset", "day", "stamp", "inputs"], predicate=f"asset = '{asset}'")).read_all()
        return {date.fromisoformat(d): DayBuild(asset, date.fromisoformat(d), int(s), json.loads(i))
                for d, s, i in zip(data["day"].to_pylist(), data["stamp"].to_pylist(), data["inputs"].to_pylist())}

    def record(self, builds: list[DayBuild]) -> None:
        """Replace the rows of these (asset, day) pairs in one commit."""
        if not builds:
            return
        now = datetime.now(timezone.utc)
        data = pa.table({"asset": [b.asset for b in builds], "day": [b.day.isoformat() for b in builds],
                         "stamp": [b.stamp for b in builds],
                         "inputs": [json.dumps(b.inputs, sort_keys=True) for b in builds],
                         "built_at": [now] * len(builds)}, schema=_SCHEMA)
        options = self.storage_options or None
        if not DeltaTable.is_deltatable(self.uri, storage_options=options):
            write_deltalake(self.uri, data, storage_options=options)
            return
        pairs = " OR ".join(f"(asset = '{b.asset}' AND day = '{b.day.isoformat()}')" for b in builds)
        write_deltalake(self.uri, data, mode="overwrite", predicate=pairs, storage_options=options)


def raw_day_stamps(table: DeltaDayTable) -> dict[date, str]:
    """A digest per stored day of a day-partitioned raw table, from the names of the files holding it:
    any replacement of the day writes new files, so the digest changes."""
    if not table.exists():
        return {}
    actions = pa.table(DeltaTable(table.uri, storage_options=table.storage_options or None)
                       .get_add_actions(flatten=True))
    paths: dict[str, list[str]] = defaultdict(list)
    for path, day in zip(actions["path"].to_pylist(), actions[f"partition.{DAY_COLUMN}"].to_pylist()):
        paths[day].append(path)
    return {date.fromisoformat(day): hashlib.sha1("\n".join(sorted(found)).encode()).hexdigest()[:16]
            for day, found in paths.items()}


def out_of_date(transactions: dict[date, DayBuild], windows: dict[date, DayBuild],
                raw: dict[date, str], first_partition: date) -> dict[tuple[str, date], str]:
    """(asset, day) → why that stored day no longer matches its inputs, for every such day."""
    stale: dict[tuple[str, date], str] = {}
    for day in sorted(transactions):
        build, previous = transactions[day], day - ONE_DAY
        if raw.get(day, "") != build.inputs.get("raw", ""):
            stale[(TRANSACTIONS, day)] = f"raw transactions of {day} were replaced after its features were built"
        elif day > first_partition:
            reason = _read_day_changed(transactions, stale, previous, build.inputs.get("previous"))
            if reason:
                stale[(TRANSACTIONS, day)] = reason
    for day in sorted(windows):
        build = windows[day]
        for name, read in (("same", day), ("previous", day - ONE_DAY)):
            if read < first_partition:
                continue
            reason = _read_day_changed(transactions, stale, read, build.inputs.get(name))
            if reason:
                stale[(WINDOWS, day)] = reason
                break
    return stale


def _read_day_changed(transactions: dict[date, DayBuild], stale: dict[tuple[str, date], str], read: date,
                      stamp: str | None) -> str | None:
    """Why the transactions_fg day `read`, recorded as `stamp` by a reader, is no longer what it read."""
    found = transactions.get(read)
    if found is None:
        return f"{TRANSACTIONS} of {read}, which it read, is missing"
    if str(found.stamp) != stamp:
        return f"{TRANSACTIONS} of {read}, which it read, was rebuilt after it"
    if (TRANSACTIONS, read) in stale:
        return f"{TRANSACTIONS} of {read}, which it read, is out of date"
    return None


def first_out_of_date(stale: dict[tuple[str, date], str]) -> tuple[date, str] | None:
    """The earliest out-of-date day and why, or None when every stored day is current."""
    if not stale:
        return None
    (asset, day), reason = min(stale.items(), key=lambda item: (item[0][1], item[0][0] != TRANSACTIONS))
    return day, f"{asset} {day}: {reason}"


def lineage_of(storage: object) -> DayLineage:
    """The lineage table of a `Storage` (or `StorageResource`): `<root>/lineage/feature_days`."""
    return DayLineage(f"{storage.location}/lineage/feature_days", storage_options=storage.storage_options)


def stale_days(storage: object, first_partition: date) -> dict[tuple[str, date], str]:
    """Every stored feature day of `storage` that no longer matches its inputs, with the reason."""
    lineage = lineage_of(storage)
    return out_of_date(lineage.builds(TRANSACTIONS), lineage.builds(WINDOWS),
                       raw_day_stamps(storage.raw_table("transactions")), first_partition)


def previous_day_problem(storage: object, asset: str, days: list[date], first_partition: date) -> str | None:
    """Why `asset` may not build `days` (in order, one run): a transactions_fg day it reads from outside
    the run (the day before the first; for the window group every day too) is missing or out of date.
    None when it may."""
    first = days[0]
    needed = [first - ONE_DAY] if first > first_partition else []
    if asset == WINDOWS:
        needed += days
    if not needed:
        return None
    stale = stale_days(storage, first_partition)
    built = lineage_of(storage).builds(TRANSACTIONS)
    for day in needed:
        if day not in built:
            hint = ("" if built else " (no feature day is recorded at all: features built before their lineage was "
                    f"recorded need one run from the first partition {first_partition})")
            return (f"{asset} cannot build {first}: {TRANSACTIONS} has no features for {day} yet, and "
                    f"{first} reads each card's charges before it. Build {day} first, or the range "
                    f"{min(day, first)}..{days[-1]} in one run{hint}.")
        if (TRANSACTIONS, day) in stale:
            return (f"{asset} cannot build {first}: {TRANSACTIONS} of {day} is out of date "
                    f"({stale[(TRANSACTIONS, day)]}). Rebuild from the first out-of-date day on, in one run "
                    "(stale_features_sensor asks for it).")
    return None
