"""The data contract: how a data set's files map onto the four raw tables, declared in YAML.

A user's data goes in by configuration, never by a preprocessing script: the contract says where
the files are and how they are named, which of their columns is which of ours, the time zone of
naive timestamps, date formats, id types, the category vocabulary, snapshot tables without event
time, and where labels come from. The built-in synthetic source is one contract among others.

The contract in force is, in order: `$FRAUD_CONTRACT` (a YAML file), else `$FRAUD_HOME/contract.yaml`
(written by `cli run --contract` and by the demo, so later commands and the UI see the same one),
else the built-in synthetic contract. Every error names the contract key to change.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from feature_logic import schema

CONTRACT_ENV = "FRAUD_CONTRACT"
CONTRACT_FILE = "contract.yaml"
TABLES = ("transactions", "fraud_labels", "profiles", "credit_cards")
DAILY_TABLES = ("transactions", "fraud_labels")
#: Our column that carries each table's event time.
TIME_COLUMNS = {"transactions": "datetime", "fraud_labels": "datetime", "profiles": "event_time",
                "credit_cards": "event_time"}


class ContractError(ValueError):
    """The contract file itself is wrong: the message names the key and what it should be."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelsFromTransactions(_Strict):
    """Labels carried by a column of the transactions files instead of a table of their own."""

    column: str = Field(description="Their column holding 1/0 (or values mapped by `values`).")
    label_delay: str = Field(description="How long after the charge its label is known, e.g. '30d', '12h', '0s'.")

    @field_validator("label_delay")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            delay = pd.Timedelta(value)
        except (ValueError, TypeError):
            raise ValueError(f"{value!r} is not a duration such as '30d', '12h' or '0s'") from None
        if delay < pd.Timedelta(0):
            raise ValueError(f"{value!r} is negative: a label is known at or after its charge")
        return value

    @property
    def delay(self) -> pd.Timedelta:
        return pd.Timedelta(self.label_delay)


class TableContract(_Strict):
    """How one raw table's files look."""

    path: str | None = Field(default=None, description="Folder of the files (relative to the contract file); "
                                                          "default <landing>/<table>.")
    layout: Literal["daily", "any"] = Field(
        default="daily",
        description="daily: one file per day, named by `file_name`; any: any files, rows routed by their UTC day.")
    file_name: str = Field(default="%Y-%m-%d", description="strftime pattern of a daily file's name without suffix.")
    file_timezone: str | None = Field(default=None, description="Time zone of the day a daily file is named by "
                                                                "(default: the table's `timezone`).")
    format: Literal["csv", "parquet", "auto"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    columns: dict[str, str] = Field(default_factory=dict, description="Their column name -> ours.")
    timezone: str | None = Field(default=None, description="Time zone of naive timestamps (default: contract's).")
    formats: dict[str, str] = Field(
        default_factory=dict,
        description="Our column -> strptime format (e.g. '%m/%y'), or epoch_s / epoch_ms / epoch_us.")
    values: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                              description="Our column -> {their value: our value}.")
    extra_columns: Literal["refuse", "ignore"] = "refuse"
    valid_from: datetime | None = Field(
        default=None, description="Snapshot tables without event time: when every row became true.")
    empty_days: list[date] = Field(default_factory=list,
                                   description="Days that are intentionally empty (no file, or a header only).")
    from_transactions: LabelsFromTransactions | None = Field(
        default=None, description="fraud_labels only: labels come from a column of the transactions files.")

    @field_validator("timezone", "file_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            _zone_info(value)
        return value


class SyntheticContract(_Strict):
    """The seeded generator's knobs (only for `source: synthetic`)."""

    seed: int = 42
    n_cards: int = Field(default=5_000, gt=0)
    transactions_per_day: int = Field(default=10_000, gt=0)
    fraud_rate: float = Field(default=0.005, ge=0, lt=1)


class DataContract(_Strict):
    """A data set described for the raw tables (see the README, "Bring your own data")."""

    name: str = "data"
    source: Literal["files", "synthetic"] = "files"
    landing: str | None = Field(default=None, description="Base folder of the tables' files (relative to the "
                                                           "contract file); default $FRAUD_HOME/landing.")
    start_date: date | None = Field(default=None, description="First daily partition; default: the first "
                                                              "landed day.")
    timezone: str = Field(default="UTC", description="Time zone of naive timestamps.")
    tid_type: Literal["int", "string"] = Field(default="int", description="Transaction ids: int64 or text kept "
                                                                         "exactly.")
    categories: list[str] | Literal["open"] = Field(
        default_factory=lambda: list(schema.CATEGORIES),
        description="The merchant categories allowed, or 'open' (unseen ones kept, encoded as unknown).")
    providers: list[str] | Literal["open"] = Field(default_factory=lambda: list(schema.PROVIDERS))
    future_skew: str = Field(default="1h", description="How far past now an event time may be (clock skew).")
    synthetic: SyntheticContract = Field(default_factory=SyntheticContract)
    tables: dict[str, TableContract] = Field(default_factory=dict)
    #: Folder the relative paths are read from (the contract file's folder); not a YAML key.
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone_info(value)
        return value

    @field_validator("future_skew")
    @classmethod
    def _skew(cls, value: str) -> str:
        try:
            pd.Timedelta(value)
        except (ValueError, TypeError):
            raise ValueError(f"{value!r} is not a duration such as '1h'") from None
        return value

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, value: dict[str, TableContract]) -> dict[str, TableContract]:
        unknown = sorted(set(value) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; the raw tables are {list(TABLES)}")
        return value

    @model_validator(mode="after")
    def _tables(self) -> DataContract:
        for name, table in self.tables.items():
            targets = list(table.columns.values())
            ours = set(schema.RAW_SCHEMAS[name].names)
            label_column = None
            if name == "transactions" and self.labels_from_transactions is not None:
                label_column = self.labels_from_transactions.column
            bad = [t for t in targets if t not in ours]
            if bad:
                raise ValueError(f"tables.{name}.columns: maps onto {bad}, which are not columns of {name}; "
                                 f"ours are {sorted(ours)}")
            twice = sorted({t for t in targets if targets.count(t) > 1})
            if twice:
                raise ValueError(f"tables.{name}.columns: several columns map onto {twice}")
            for key in ("formats", "values"):
                stray = sorted(set(getattr(table, key)) - ours - ({"is_fraud"} if label_column else set()))
                if stray:
                    raise ValueError(f"tables.{name}.{key}: {stray} are not columns of {name} (ours: {sorted(ours)})")
            if table.from_transactions is not None and name != "fraud_labels":
                raise ValueError(f"tables.{name}.from_transactions: only fraud_labels can come from transactions")
            if table.valid_from is not None and name in DAILY_TABLES:
                raise ValueError(f"tables.{name}.valid_from: only the history tables (profiles, credit_cards) "
                                 "can be snapshots")
        return self

    # --- what the rest of the project asks of a contract ------------------------------------

    def table(self, name: str) -> TableContract:
        return self.tables.get(name) or TableContract()

    @property
    def labels_from_transactions(self) -> LabelsFromTransactions | None:
        labels = self.tables.get("fraud_labels")
        return labels.from_transactions if labels is not None else None

    def schema(self, name: str) -> pa.Schema:
        """The Arrow schema of stored raw table `name` under this contract (the tid type may be text):
        `cc_num` holds the card's token (int64), and landing-only columns such as names are gone."""
        base = self.landing_schema(name)
        base = base.set(base.get_field_index("cc_num"), pa.field("cc_num", pa.int64()))
        for column in schema.LANDING_ONLY.get(name, ()):
            base = base.remove(base.get_field_index(column))
        return base

    def landing_schema(self, name: str) -> pa.Schema:
        """The Arrow schema raw table `name`'s files are read into: the card number as uint64 (PANs have
        up to 19 digits, beyond int64), plus the landing-only columns (dropped at ingestion)."""
        base = schema.RAW_SCHEMAS[name]
        base = base.set(base.get_field_index("cc_num"), pa.field("cc_num", pa.uint64()))
        if self.tid_type == "string" and "tid" in base.names:
            return base.set(base.get_field_index("tid"), pa.field("tid", pa.string()))
        return base

    def folder(self, name: str, default_landing: str) -> Path:
        """Where table `name`'s files are."""
        table = self.table(name)
        base = Path(self.base_dir) if self.base_dir else Path.cwd()
        if table.path:
            return (base / table.path).resolve()
        landing = base / self.landing if self.landing else Path(default_landing)
        return (landing / name).resolve()

    def zone(self, name: str) -> ZoneInfo:
        """Time zone of table `name`'s naive timestamps."""
        return _zone_info(self.table(name).timezone or self.timezone)

    def file_zone(self, name: str) -> ZoneInfo:
        """Time zone of the day a daily file of table `name` is named by."""
        table = self.table(name)
        return _zone_info(table.file_timezone or table.timezone or self.timezone)

    @property
    def skew(self) -> timedelta:
        return pd.Timedelta(self.future_skew).to_pytimedelta()

    def to_yaml(self) -> str:
        """The contract as YAML, with its relative paths made absolute (for `$FRAUD_HOME/contract.yaml`)."""
        import yaml

        data = self.model_dump(mode="json", exclude_defaults=True)
        base = Path(self.base_dir) if self.base_dir else Path.cwd()
        if self.landing:
            data["landing"] = str((base / self.landing).resolve())
        for name, table in self.tables.items():
            if table.path:
                data["tables"][name]["path"] = str((base / table.path).resolve())
        return yaml.safe_dump(data, sort_keys=False)


def _zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name such as 'UTC' or 'Europe/Paris'") from None


def load(path: str | Path) -> DataContract:
    """Read and check a contract file; a ContractError names the file, the key and the problem."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(f"{path}: cannot read the contract file ({error.strerror or error})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{path}: a contract is a YAML mapping of keys (name, source, tables, ...)")
    return parse(data, base_dir=path.resolve().parent, where=str(path))


def parse(data: dict[str, Any], *, base_dir: str | Path | None = None, where: str = "contract") -> DataContract:
    """A contract from already-parsed YAML; relative paths are read from `base_dir`."""
    try:
        return DataContract(**data, base_dir=str(base_dir) if base_dir is not None else None)
    except ValidationError as error:
        problems = []
        for item in error.errors()[:8]:
            key = ".".join(str(p) for p in item["loc"]) or "(top level)"
            message = re.sub(r"^Value error, ", "", item["msg"])
            if item["type"] == "extra_forbidden":
                message = "not a contract key (see the README, 'Bring your own data')"
            problems.append(f"  {key}: {message}")
        more = f"\n  ... and {error.error_count() - 8} more" if error.error_count() > 8 else ""
        raise ContractError(f"{where}: the contract has {error.error_count()} problem(s):\n"
                            + "\n".join(problems) + more) from None


SYNTHETIC = DataContract(name="synthetic", source="synthetic")


def contract_path() -> Path | None:
    """The contract file in force, if any: `$FRAUD_CONTRACT`, else `$FRAUD_HOME/contract.yaml`."""
    from fraud_pipelines.settings import local_home

    explicit = os.environ.get(CONTRACT_ENV)
    if explicit:
        return Path(explicit)
    stored = local_home() / CONTRACT_FILE
    return stored if stored.is_file() else None


def active() -> DataContract:
    """The contract in force (see the module docstring)."""
    path = contract_path()
    if path is None:
        return SYNTHETIC
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int) -> DataContract:
    return load(path)


def store(contract: DataContract, home: Path) -> Path:
    """Keep `contract` as `home/contract.yaml`, so later commands and the UI use the same one."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / CONTRACT_FILE
    target.write_text(contract.to_yaml(), encoding="utf-8")
    return target


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
