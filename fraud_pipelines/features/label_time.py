"""When labels are known: each label row carries `label_time` (a chargeback comes days after the charge).

A charge day counts as labelled only once every label of its charges is known (its latest
`label_time` is at or before the clock), and training data cut at a time uses only labels known
then. Days count in order: a day after one still waiting for labels does not count yet, so the
labelled days are always a contiguous run that training ranges can cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from fraud_pipelines.features import groups

LABEL_TIME = "label_time"


def now() -> datetime:
    """The default clock: labels with a `label_time` up to now are known."""
    return datetime.now(timezone.utc)


def as_utc(value: str | datetime) -> pd.Timestamp:
    """An ISO text or datetime as a UTC timestamp (naive means UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def last_label_times(labels: pd.DataFrame) -> dict[date, pd.Timestamp]:
    """Per UTC charge day of `labels` (datetime, label_time), when its last label became known."""
    if labels.empty:
        return {}
    days = pd.to_datetime(labels["datetime"], utc=True).dt.date
    latest = pd.to_datetime(labels[LABEL_TIME], utc=True).groupby(days.to_numpy()).max()
    return dict(zip(latest.index, latest.to_list()))


def known_days(latest: dict[date, pd.Timestamp], at: datetime, days: Iterable[date] | None = None) -> list[date]:
    """The days (of `days`, default all in `latest`) whose labels are all known at `at`, ascending, up to the
    first day that is still waiting for a label (a day without labels waits too)."""
    out = []
    for day in sorted(latest if days is None else days):
        if day not in latest or latest[day] > pd.Timestamp(at):
            break
        out.append(day)
    return out


def labelled_days(fs: Any, days: Iterable[date], at: datetime | None = None) -> list[date]:
    """The days of `days` whose labels (in the `fraud_labels` group of `fs`) are all known at `at` (default
    now); see `known_days`."""
    wanted = sorted(days)
    if not wanted:
        return []
    start = pd.Timestamp(wanted[0], tz="UTC")
    end = pd.Timestamp(wanted[-1], tz="UTC") + pd.Timedelta(days=1)
    labels = groups.FRAUD_LABELS.get_or_create(fs).read(start, end, columns=["datetime", LABEL_TIME])
    return known_days(last_label_times(labels), at or now(), wanted)


def unknown_at(labels: pd.DataFrame, start: datetime, end: datetime, at: datetime) -> str | None:
    """Why training data of charges in [start, end) cannot be cut at `at`: labels in it known only later
    (how many, the first such day and when its labels are known). None when all are known."""
    times = pd.to_datetime(labels["datetime"], utc=True)
    known = pd.to_datetime(labels[LABEL_TIME], utc=True)
    late = (times >= pd.Timestamp(start)) & (times < pd.Timestamp(end)) & (known > pd.Timestamp(at))
    if not late.any():
        return None
    first = times[late].min()
    day_known = known[late & (times.dt.date == first.date())].max()
    return (f"{int(late.sum()):,} label(s) of charges in {start:%Y-%m-%d}..{end:%Y-%m-%d} are known only after "
            f"{at:%Y-%m-%d %H:%M} UTC (label_time), e.g. those of {first:%Y-%m-%d}, all known at "
            f"{day_known:%Y-%m-%d %H:%M}; end the splits before {first:%Y-%m-%d} or cut the data later")
