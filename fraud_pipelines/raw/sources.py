"""Where raw rows come from: the seeded synthetic generator (default) or the user's files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from feature_logic import schema
from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator
from fraud_pipelines.raw import files

PARTITIONED = ("transactions", "fraud_labels")


class SyntheticSource:
    """Deterministic data from `feature_logic.synthetic`: any day generated alone is identical
    to the same day generated inside a range."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self._generator = SyntheticGenerator(config)  # builds cards and owners once, not per day

    def day(self, table: str, day: date) -> pd.DataFrame:
        data = self._generator.day(day)
        return data.transactions if table == "transactions" else data.fraud_labels

    def history(self, table: str) -> pd.DataFrame:
        return self._generator.profiles() if table == "profiles" else self._generator.credit_cards()

    def describe(self) -> str:
        c = self.config
        return f"synthetic (seed {c.seed}, {c.n_cards} cards, ~{c.transactions_per_day} transactions/day)"


class FileSource:
    """The user's CSV/Parquet files under a landing folder (see `fraud_pipelines.raw.files`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def day(self, table: str, day: date) -> pd.DataFrame:
        paths = files.day_files(self.folder, table, day)
        return files.read_files(paths, schema.RAW_SCHEMAS[table])

    def history(self, table: str) -> pd.DataFrame:
        paths = files.history_files(self.folder, table)
        if not paths:
            raise files.RawInputError(
                f"no files for '{table}' in {self.folder / table}: put one or more .csv or .parquet "
                f"files with columns {schema.RAW_SCHEMAS[table].names} there"
            )
        return files.read_files(paths, schema.RAW_SCHEMAS[table])

    def describe(self) -> str:
        return f"files under {self.folder}"
