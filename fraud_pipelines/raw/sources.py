"""Where raw rows come from: the seeded synthetic generator, or the user's files as the data
contract describes them. Either way a source hands out the rows of one UTC day (or a history
table) as `Part`s that remember where they came from, so every refusal can name its file."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa

from feature_logic.schema import LANDING_ONLY
from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator
from fraud_pipelines.contract import DAILY_TABLES, TIME_COLUMNS, DataContract
from fraud_pipelines.raw import files
from fraud_pipelines.raw.files import RawInputError, ReadSpec
from fraud_pipelines.raw.messages import names, paths, samples

LABEL = "is_fraud"


@dataclass(frozen=True)
class Part:
    """Rows for one table from one origin (a file, or a generated day)."""

    origin: str
    frame: pd.DataFrame


class SyntheticSource:
    """Deterministic data from `feature_logic.synthetic`: any day generated alone is identical
    to the same day generated inside a range."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self._generator = SyntheticGenerator(config)  # builds cards and owners once, not per day

    def day_parts(self, table: str, day: date) -> list[Part]:
        data = self._generator.day(day)
        frame = data.transactions if table == "transactions" else data.fraud_labels
        return [Part(f"synthetic {table} {day.isoformat()} (seed {self.config.seed})", frame)]

    def history(self, table: str) -> list[Part]:
        """The history as known now: every event through yesterday (UTC), none later."""
        until = max(self.config.start_date, datetime.now(timezone.utc).date() - timedelta(days=1))
        if table == "profiles":
            frame = self._generator.profiles(until=until)
        else:
            frame = self._generator.credit_cards(until=until)
        return [Part(f"synthetic {table} through {until} (seed {self.config.seed})", frame)]

    def check_folder(self, table: str) -> None:
        """Nothing to check: generated data has no folder."""

    def preflight(self, table: str, days: list[date]) -> None:
        """Nothing to check: any day can be generated."""

    def describe(self) -> str:
        c = self.config
        return f"synthetic (seed {c.seed}, {c.n_cards} cards, ~{c.transactions_per_day} transactions/day)"


class FileSource:
    """The user's CSV/Parquet files, read as `contract` declares (see `fraud_pipelines.contract`)."""

    def __init__(self, contract: DataContract, landing: str) -> None:
        self.contract = contract
        self.landing = landing
        self._cache: OrderedDict[Path, pd.DataFrame] = OrderedDict()

    # --- what the raw assets and the inbox ask ---------------------------------------------

    def day_parts(self, table: str, day: date) -> list[Part]:
        """The rows of `table` whose event time falls on the UTC day `day`, per file."""
        files_table = self._files_table(table)
        self.check_folder(files_table)
        declaration = self.contract.table(table)
        if self.contract.table(files_table).layout == "any":
            parts = self._routed_parts(files_table, day)
        else:
            parts = self._daily_parts(files_table, day, allow_missing=day in declaration.empty_days)
        parts = [Part(p.origin, self.as_table(table, p.frame)) for p in parts]
        if sum(len(p.frame) for p in parts) == 0 and day not in declaration.empty_days:
            where = ", ".join(p.origin for p in parts) or str(self.folder(files_table))
            raise RawInputError(
                f"{where}: no {table} rows on the UTC day {day.isoformat()}; an empty day is refused so that no "
                f"accident (a header-only or misnamed file) can wipe a stored day. If the day truly had none, "
                f"list it under tables.{table}.empty_days in the data contract")
        return parts

    def history(self, table: str) -> list[Part]:
        """Every file of a history table (profiles, credit_cards)."""
        self.check_folder(table)
        folder = self.folder(table)
        paths = self._data_files(table)
        if not paths:
            raise RawInputError(f"{folder}: no files for '{table}'; put one or more .csv or .parquet files with "
                                f"columns {names(self.contract.schema(table).names)} there (or set "
                                f"tables.{table}.path in the data contract)")
        parts = [Part(str(p), self._history_frame(table, p)) for p in paths]
        if sum(len(p.frame) for p in parts) == 0:
            raise RawInputError(f"{folder}: the '{table}' files hold no rows; a history table is rewritten whole, "
                                "so an empty read is refused")
        return parts

    def preflight(self, table: str, days: list[date]) -> None:
        """Before reading anything: the folder holds only data files and every day's files are there."""
        files_table = self._files_table(table)
        self.check_folder(files_table)
        if self.contract.table(files_table).layout == "any":
            return
        declaration = self.contract.table(table)
        zone = self.contract.file_zone(files_table)
        pattern = self.contract.table(files_table).file_name
        missing = []
        for day in days:
            if day in declaration.empty_days:
                continue
            for local in files.local_days(day, zone):
                stem = local.strftime(pattern)
                if not any((self.folder(files_table) / f"{stem}{s}").is_file() for s in self._suffixes(files_table)):
                    missing.append(str(self.folder(files_table) / f"{stem}{self._suffixes(files_table)[0]}"))
        if missing:
            unique = list(dict.fromkeys(missing))
            raise RawInputError(
                f"{len(unique)} file(s) missing for {table} on {days[0]}..{days[-1]}: expected {paths(unique, 5)}. "
                f"Land them (exactly those names), or list intentionally empty days under tables.{table}.empty_days "
                "in the data contract. Nothing was read or written")

    def check_folder(self, table: str) -> None:
        """Refuse, by name, anything in a table's folder that is not one of its data files."""
        folder = self.folder(table)
        if not folder.is_dir():
            raise RawInputError(f"{folder}: no such folder for '{table}' (tables.{table}.path or landing in the "
                                "data contract)")
        declaration = self.contract.table(table)
        stray = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(files.IGNORED_PREFIXES):
                continue
            if entry.is_symlink() or not entry.is_file() or entry.suffix not in self._suffixes(table):
                stray.append(entry.name)
            elif table in DAILY_TABLES and declaration.layout == "daily" and \
                    files.day_of_name(entry.stem, declaration.file_name) is None:
                stray.append(entry.name)
        if stray:
            pattern = (f"named {declaration.file_name!r} + {'/'.join(self._suffixes(table))} (e.g. "
                       f"{date(2025, 1, 5).strftime(declaration.file_name)}{self._suffixes(table)[0]})"
                       if table in DAILY_TABLES and declaration.layout == "daily" else
                       f"{'/'.join(self._suffixes(table))} files")
            raise RawInputError(f"{folder}: {len(stray)} file(s) that are not {table} data files {names(stray)}; "
                                f"this folder holds only {pattern}. Rename or move them (links are not followed)")

    def folder(self, table: str) -> Path:
        return self.contract.folder(table, f"{self.landing}")

    def landed_days(self, table: str = "transactions") -> list[date]:
        """The UTC days the daily files cover (the first and last may be covered only partly)."""
        files_table = self._files_table(table)
        self.check_folder(files_table)
        declaration = self.contract.table(files_table)
        if declaration.layout == "any":
            frame = self._all_rows(files_table)
            times = frame[TIME_COLUMNS[files_table]]
            return sorted({d.date() for d in times.dt.floor("D")})
        zone = self.contract.file_zone(files_table)
        days = set()
        for path in self._data_files(files_table):
            local = files.day_of_name(path.stem, declaration.file_name)
            start = datetime(local.year, local.month, local.day, tzinfo=zone)
            first = start.astimezone(timezone.utc).date()
            last = ((start + timedelta(days=1)).astimezone(timezone.utc) - timedelta(microseconds=1)).date()
            days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        return sorted(days)

    def covered_days(self, table: str = "transactions") -> list[date]:
        """The UTC days whose files are all there (a day a local-time file covers only partly is left out)."""
        days = self.landed_days(table)
        files_table = self._files_table(table)
        if self.contract.table(files_table).layout == "any":
            return days
        covered = []
        for day in days:
            try:
                self.preflight(table, [day])
            except RawInputError:
                continue
            covered.append(day)
        return covered

    def rows_outside(self, first: date, last: date, table: str = "transactions") -> int:
        """Landed rows whose UTC day lies outside [first, last] (they are not ingested by that range)."""
        files_table = self._files_table(table)
        declaration = self.contract.table(files_table)
        column = TIME_COLUMNS[files_table]
        start = pd.Timestamp(first.isoformat(), tz="UTC")
        end = pd.Timestamp(last.isoformat(), tz="UTC") + pd.Timedelta(days=1)
        if declaration.layout == "any":
            times = self._all_rows(files_table)[column]
            return int(((times < start) | (times >= end)).sum())
        edge = [p for p in self._data_files(files_table)
                if files.day_of_name(p.stem, declaration.file_name) is not None]
        count = 0
        for path in edge:
            local = files.day_of_name(path.stem, declaration.file_name)
            zone = self.contract.file_zone(files_table)
            day_start = pd.Timestamp(local.isoformat()).tz_localize(zone).tz_convert("UTC")
            day_end = pd.Timestamp((local + timedelta(days=1)).isoformat()).tz_localize(zone).tz_convert("UTC")
            if day_start >= start and day_end <= end:
                continue  # wholly inside: nothing of it is left out
            times = self._read(files_table, path)[column]
            count += int(((times < start) | (times >= end)).sum())
        return count

    def describe(self) -> str:
        return f"files of contract '{self.contract.name}' under {self.folder('transactions').parent}"

    # --- reading ----------------------------------------------------------------------------

    def _files_table(self, table: str) -> str:
        """The table whose files hold `table`'s rows (labels may live in the transactions files)."""
        if table == "fraud_labels" and self.contract.labels_from_transactions is not None:
            return "transactions"
        return table

    def _suffixes(self, table: str) -> tuple[str, ...]:
        kind = self.contract.table(table).format
        return files.SUFFIXES if kind == "auto" else (f".{kind}",)

    def _data_files(self, table: str) -> list[Path]:
        folder = self.folder(table)
        return [p for p in sorted(folder.iterdir())
                if not p.name.startswith(files.IGNORED_PREFIXES) and p.is_file() and p.suffix in self._suffixes(table)]

    def read_spec(self, table: str) -> ReadSpec:
        """How this contract's files of `table` are read."""
        declaration = self.contract.table(table)
        schema = self.contract.landing_schema(table)
        columns = dict(declaration.columns)
        labels = self.contract.labels_from_transactions
        if table == "transactions" and labels is not None:
            schema = schema.append(pa.field(LABEL, pa.int8()))
            columns[labels.column] = LABEL
        optional = (("event_time",) if declaration.valid_from is not None else ()) + LANDING_ONLY.get(table, ())
        return ReadSpec(table=table, schema=schema, columns=columns, formats=dict(declaration.formats),
                        values=dict(declaration.values), zone=self.contract.zone(table),
                        extra_columns=declaration.extra_columns, optional=optional, delimiter=declaration.delimiter)

    def _read(self, table: str, path: Path) -> pd.DataFrame:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        frame = files.read_file(path, self.read_spec(table))
        self._cache[path] = frame
        while len(self._cache) > 2:  # neighbouring UTC days share a file of a local day
            self._cache.popitem(last=False)
        return frame

    def _daily_parts(self, table: str, day: date, *, allow_missing: bool) -> list[Part]:
        declaration = self.contract.table(table)
        zone = self.contract.file_zone(table)
        column = TIME_COLUMNS[table]
        start = pd.Timestamp(day.isoformat(), tz="UTC")
        parts, missing = [], []
        for local in files.local_days(day, zone):
            stem = local.strftime(declaration.file_name)
            found = [self.folder(table) / f"{stem}{s}" for s in self._suffixes(table)
                     if (self.folder(table) / f"{stem}{s}").is_file()]
            if not found:
                missing.append(self.folder(table) / f"{stem}{self._suffixes(table)[0]}")
                continue
            if len(found) > 1:
                raise RawInputError(f"{paths(found)}: two files for the day {local}; keep one")
            path = found[0]
            frame = self._read(table, path)
            times = frame[column]
            own_day = times.dt.tz_convert(zone).dt.date == local
            if not own_day.all():
                outside = times[~own_day]
                raise RawInputError(
                    f"{path}: column '{column}': {len(outside):,} row(s) fall outside the file's day {local} "
                    f"({zone.key}), e.g. {samples(outside.astype(str).tolist())}; a daily file holds one day "
                    f"(its name); put those rows in their own day's file")
            inside = (times >= start) & (times < start + pd.Timedelta(days=1))
            parts.append(Part(str(path), frame[inside.to_numpy()].reset_index(drop=True)))
        if missing and not allow_missing:
            zone_note = f" (days in {zone.key}, which overlap the UTC day)" if zone.key != "UTC" else ""
            raise RawInputError(
                f"no file for {table} on the UTC day {day.isoformat()}: expected {paths(missing)}"
                f"{zone_note}. Land the file (exactly that name), or list the day under tables.{table}.empty_days "
                "in the data contract if it is intentionally empty")
        return parts

    def _all_rows(self, table: str) -> pd.DataFrame:
        key = Path(f"<all {table}>")
        if key in self._cache:
            return self._cache[key]
        paths = self._data_files(table)
        if not paths:
            raise RawInputError(f"{self.folder(table)}: no .csv or .parquet files for '{table}'")
        frames = []
        for path in paths:
            frame = files.read_file(path, self.read_spec(table))
            frames.append(frame.assign(_origin=str(path)))
        frame = pd.concat(frames, ignore_index=True)
        self._cache[key] = frame
        return frame

    def _routed_parts(self, table: str, day: date) -> list[Part]:
        frame = self._all_rows(table)
        times = frame[TIME_COLUMNS[table]]
        start = pd.Timestamp(day.isoformat(), tz="UTC")
        rows = frame[((times >= start) & (times < start + pd.Timedelta(days=1))).to_numpy()]
        return [Part(origin, group.drop(columns="_origin").reset_index(drop=True))
                for origin, group in rows.groupby("_origin", sort=True)]

    def _history_frame(self, table: str, path: Path) -> pd.DataFrame:
        frame = files.read_file(path, self.read_spec(table))
        declaration = self.contract.table(table)
        if declaration.valid_from is not None:
            if "event_time" in frame.columns:
                raise RawInputError(f"{path}: the file has an event_time column but tables.{table}.valid_from "
                                    "declares it a snapshot; remove one of the two")
            valid_from = pd.Timestamp(declaration.valid_from)
            valid_from = valid_from.tz_localize("UTC") if valid_from.tzinfo is None else valid_from.tz_convert("UTC")
            frame["event_time"] = pd.Series(valid_from, index=frame.index).astype("datetime64[us, UTC]")
            frame = frame[self.contract.schema(table).names]
        return frame

    def as_table(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of the transactions files as `table`: charges without the label, or labels."""
        labels = self.contract.labels_from_transactions
        if labels is None:
            return frame
        if table == "transactions":
            return frame.drop(columns=[LABEL])
        out = frame[["tid", "cc_num", "datetime", LABEL]].copy()
        out["label_time"] = (out["datetime"] + labels.delay).astype("datetime64[us, UTC]")
        return out.reset_index(drop=True)
