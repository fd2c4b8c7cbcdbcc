"""Reading only the scored days that have labels: the day partitions of the scores tables are listed
(Delta metadata), labels are read over those days' span, and scores and amounts only for the days
kept, each read pushed down to Delta (partition predicate) or to the store (event-time pruning).
So `model_competition` and `model_value` cost what their days hold, not what the history holds.

A scored day counts as labelled only once every label of its charges is known (`label_time` at or
before the clock, in day order: `features/label_time.py`), as for training and the retraining sensors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from fraud_pipelines.features import label_time
from fraud_pipelines.tables import DeltaDayTable, day_window


def stored_days(*tables: DeltaDayTable) -> list[date]:
    """The days any of `tables` holds (partition listing; no data file is read), ascending."""
    return sorted({date.fromisoformat(d) for table in tables for d in table.days()})


def labels_of(labels_group: Any, days: Sequence[date], at: datetime | None = None) -> pd.DataFrame:
    """tid, day (YYYY-MM-DD) and is_fraud of the labelled charges of `days` (read over their span only):
    only days whose labels are all known at `at` (default now), up to the first day still waiting for one."""
    empty = pd.DataFrame({"tid": pd.Series(dtype="int64"), "day": pd.Series(dtype=object),
                          "is_fraud": pd.Series(dtype="int64")})
    if not days:
        return empty
    start, end = day_window(min(days))[0], day_window(max(days))[1]
    labels = labels_group.read(start, end, columns=["tid", "datetime", "is_fraud", label_time.LABEL_TIME])
    known = label_time.known_days(label_time.last_label_times(labels), at or label_time.now(), days)
    if not known:
        return empty
    labels = with_day(labels)
    return labels[labels["day"].isin({d.isoformat() for d in known})][["tid", "day", "is_fraud"]]


def read_days(table: DeltaDayTable, days: Sequence[date], columns: Sequence[str]) -> pd.DataFrame:
    """`columns` of `table`'s rows on `days` (a Delta partition predicate), with their `day`."""
    wanted = list(dict.fromkeys([*columns, "day"]))
    if not days or not table.exists():
        return pd.DataFrame({c: [] for c in wanted})
    return table.scan(wanted, days=list(days)).read_all().to_pandas()


def amounts_of(transactions_group: Any, days: Sequence[date], tids: pd.Series) -> pd.DataFrame:
    """tid and amount of the charges `tids` of `days` (read per run of consecutive days)."""
    parts = []
    for first, last in _runs(sorted(set(days))):
        frame = transactions_group.read(day_window(first)[0], day_window(last)[1], columns=["tid", "amount"])
        parts.append(frame[frame["tid"].isin(tids)])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"tid": [], "amount": []})


def with_day(frame: pd.DataFrame, column: str = "datetime") -> pd.DataFrame:
    """`frame` with its UTC day as text in `day`."""
    return frame.assign(day=pd.to_datetime(frame[column], utc=True).dt.strftime("%Y-%m-%d"))


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
