"""Temporal train/validation/test ranges: from config, or derived from the days the labels cover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd


@dataclass(frozen=True)
class SplitRanges:
    """Consecutive [start, end) ranges on the spine's event time (UTC)."""

    train_start: datetime
    train_end: datetime
    validation_end: datetime
    test_end: datetime

    def as_kwargs(self) -> dict[str, datetime]:
        """Arguments of `FeatureView.create_train_validation_test_split`."""
        return {
            "train_start": self.train_start,
            "train_end": self.train_end,
            "validation_start": self.train_end,
            "validation_end": self.validation_end,
            "test_start": self.validation_end,
            "test_end": self.test_end,
        }

    def describe(self) -> dict[str, str]:
        return {
            "train": f"{self.train_start:%Y-%m-%d} .. {self.train_end:%Y-%m-%d}",
            "validation": f"{self.train_end:%Y-%m-%d} .. {self.validation_end:%Y-%m-%d}",
            "test": f"{self.validation_end:%Y-%m-%d} .. {self.test_end:%Y-%m-%d}",
        }


def default_ranges(first: pd.Timestamp, last: pd.Timestamp, *, test_share: float = 0.2,
                   validation_share: float = 0.1) -> SplitRanges:
    """Whole UTC days from `first` to `last`: the last `test_share` of days for test, the
    `validation_share` before them for validation, the rest for training (at least one day each)."""
    start = _midnight(first)
    end = _midnight(last) + timedelta(days=1)
    days = (end - start).days
    if days < 3:
        raise ValueError(f"labels cover {days} day(s) ({start:%Y-%m-%d}..{end:%Y-%m-%d}); a temporal "
                         "train/validation/test split needs at least 3: materialize more days first")
    test_days = max(1, round(days * test_share))
    validation_days = max(1, round(days * validation_share))
    if test_days + validation_days >= days:
        test_days, validation_days = 1, 1
    test_start = end - timedelta(days=test_days)
    validation_start = test_start - timedelta(days=validation_days)
    return SplitRanges(start, validation_start, test_start, end)


def configured_ranges(train_start: str, train_end: str, validation_end: str, test_end: str) -> SplitRanges:
    """Ranges from ISO dates or timestamps (UTC when no zone is given), checked to be in order."""
    points = [_parse(v) for v in (train_start, train_end, validation_end, test_end)]
    if not all(a < b for a, b in zip(points, points[1:])):
        raise ValueError(
            f"split boundaries must increase: train_start {train_start} < train_end {train_end} < "
            f"validation_end {validation_end} < test_end {test_end}"
        )
    return SplitRanges(*points)


def _midnight(value: pd.Timestamp) -> datetime:
    ts = pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value).tz_localize("UTC")
    return datetime(ts.year, ts.month, ts.day, tzinfo=timezone.utc)


def _parse(value: str) -> datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()
