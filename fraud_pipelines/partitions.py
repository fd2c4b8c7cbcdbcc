"""The project's time axis: daily partitions on event time, UTC."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from fraud_pipelines.settings import start_date

DAILY = dg.DailyPartitionsDefinition(start_date=start_date().isoformat(), timezone="UTC")


def days_in(window: dg.TimeWindow) -> list[date]:
    """The UTC days a partition time window covers (one for a daily run, many for a backfill)."""
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


def window_bounds(window: dg.TimeWindow) -> tuple[datetime, datetime]:
    return window.start, window.end
