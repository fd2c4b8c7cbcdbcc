"""Version histories (`profiles`, `credit_cards`) checked, converted and grouped by card once.

A backfill or a daily run calls `transaction_features` once per chunk of days with the same
histories; prepared once with `VersionHistory.of`, each chunk's as-of lookup is a binary search per
card over arrays already in card order, and the date columns are converted once, not per chunk.
A history given as a DataFrame is prepared the same way on each call, so both give the same bits.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from feature_logic.inputs import epoch_days, int64_keys, require_columns, utc_microseconds
from feature_logic.point_in_time import SortedVersions


class VersionHistory:
    """One history table: its rows as given (`frame`), their cards and event times as arrays, and
    the rows grouped by card for as-of lookups (`versions`). The arrays may share the frame's
    memory: prepare a frame that no longer changes (a run's read of the raw table), and make a new
    one for new rows."""

    def __init__(self, frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
        require_columns(frame, columns, name)
        self.frame = frame
        self.name = name
        self.keys = int64_keys(frame, "cc_num", name)
        self.times = utc_microseconds(frame, "event_time", name)
        self.versions = SortedVersions.of(self.keys, self.times, f"{name} (cc_num, event_time)")
        self._days: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def of(cls, table: pd.DataFrame | VersionHistory, name: str, columns: Iterable[str]) -> VersionHistory:
        """`table` prepared (itself when it already is), after checking it holds `columns`."""
        if isinstance(table, VersionHistory):
            if table.name != name:
                raise ValueError(f"expected the {name} history, got the {table.name} one")
            require_columns(table.frame, columns, name)
            return table
        return cls(table, name, columns)

    def days(self, column: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The date column as days since 1970-01-01 and its null mask; only the positions `rows` are
        sure to be converted (others may read as null). A datetime64 column (what the raw tables'
        reader gives) is converted whole, once; date objects only at `rows`, on each call (~50 ns a row)."""
        series = self.frame[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype) and not isinstance(series.dtype, pd.ArrowDtype):
            if column not in self._days:
                self._days[column] = epoch_days(self.frame, column, self.name)
            return self._days[column]
        needed = np.zeros(len(self.frame), dtype=bool)
        needed[rows] = True
        return epoch_days(self.frame, column, self.name, needed)
