"""Temporal train/validation/test ranges: from config, or derived from the days the labels cover.

Splits that cannot be empty: the derived split starts from the configured shares of days and
moves its boundaries earlier, a day at a time, until validation and test each hold at least
`min_positives` frauds (train keeps at least one day and one fraud). Configured ranges are
checked the same way. When that cannot be done, `SplitError` says so before any training,
naming the config keys that fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from fraud_pipelines.per_day import window_text

#: Frauds validation and test must each hold, unless configured otherwise.
MIN_POSITIVES = 20
_KEYS_HINT = ("choose the ranges in the training_dataset config (`train_start`, `train_end`, `validation_end`, "
              "`test_end`), lower `min_positives`, or materialize more labelled days")


class SplitError(ValueError):
    """The labels cannot give every split enough frauds; raised before training."""


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
        """Each split's days, inclusive ("2025-01-01..2025-01-07"): the bounds above are end-exclusive."""
        return {
            "train": window_text(self.train_start, self.train_end),
            "validation": window_text(self.train_end, self.validation_end),
            "test": window_text(self.validation_end, self.test_end),
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


def ranges_with_positives(times: pd.Series, is_fraud: pd.Series, *, test_share: float = 0.2,
                          validation_share: float = 0.1, min_positives: int = MIN_POSITIVES) -> SplitRanges:
    """`default_ranges` over the labels' days, with the test and then the validation start moved
    earlier (whole days) until each holds `min_positives` frauds; `SplitError` when impossible."""
    base = default_ranges(times.min(), times.max(), test_share=test_share, validation_share=validation_share)
    start = base.train_start
    days = (base.test_end - start).days
    positives = _positives_by_day(times, is_fraud, start, days)
    test_start = (base.validation_end - start).days
    while positives[test_start:].sum() < min_positives and test_start > 2:
        test_start -= 1
    validation_start = min((base.train_end - start).days, test_start - 1)
    while positives[validation_start:test_start].sum() < min_positives and validation_start > 1:
        validation_start -= 1
    day = timedelta(days=1)
    ranges = SplitRanges(start, start + validation_start * day, start + test_start * day, base.test_end)
    counts = _split_positives(positives, validation_start, test_start)
    if min(counts["validation"], counts["test"]) < min_positives or counts["train"] < 1:
        raise SplitError(
            f"the labels {start:%Y-%m-%d}..{base.test_end - day:%Y-%m-%d} hold {int(positives.sum())} fraud(s) in "
            f"{len(times):,} rows: too few for validation and test to hold `min_positives`={min_positives} each "
            f"with a day of training before them (widest split tried: {ranges.describe()}, frauds {counts}); "
            f"{_KEYS_HINT}"
        )
    return ranges


def check_positives(ranges: SplitRanges, times: pd.Series, is_fraud: pd.Series, *,
                    min_positives: int = MIN_POSITIVES) -> dict[str, int]:
    """Frauds per split of configured `ranges`; `SplitError` naming the keys when validation or test
    holds fewer than `min_positives`, or train none."""
    fraud_times = times[is_fraud.to_numpy() == 1]
    counts = {}
    for name, (lo, hi) in {"train": (ranges.train_start, ranges.train_end),
                           "validation": (ranges.train_end, ranges.validation_end),
                           "test": (ranges.validation_end, ranges.test_end)}.items():
        counts[name] = int(((fraud_times >= lo) & (fraud_times < hi)).sum())
    short = [f"{name} ({ranges.describe()[name]}) holds {counts[name]}" for name in ("validation", "test")
             if counts[name] < min_positives]
    if counts["train"] < 1:
        short.insert(0, f"train ({ranges.describe()['train']}) holds none")
    if short:
        keys = {"train": "from `train_start` to before `train_end`",
                "validation": "from `train_end` to before `validation_end`",
                "test": "from `validation_end` to before `test_end`"}
        raise SplitError(
            f"the configured split leaves too few frauds (`min_positives`={min_positives} for validation and "
            f"test, at least one for train): {'; '.join(short)} (days inclusive). Ranges: train {keys['train']}, "
            f"validation {keys['validation']}, test {keys['test']}; {_KEYS_HINT}"
        )
    return counts


def _positives_by_day(times: pd.Series, is_fraud: pd.Series, start: datetime, days: int) -> np.ndarray:
    micros = times.to_numpy(dtype="datetime64[us]").astype(np.int64)
    day = (micros - int(pd.Timestamp(start).value // 1_000)) // 86_400_000_000
    return np.bincount(day[is_fraud.to_numpy() == 1], minlength=days)[:days]


def _split_positives(positives: np.ndarray, validation_start: int, test_start: int) -> dict[str, int]:
    return {"train": int(positives[:validation_start].sum()),
            "validation": int(positives[validation_start:test_start].sum()),
            "test": int(positives[test_start:].sum())}


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
