"""The project's time axis: daily partitions on event time, UTC."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from fraud_pipelines.settings import start_date

DAILY = dg.DailyPartitionsDefinition(start_date=start_date().isoformat(), timezone="UTC")

#: The day before only: a group reading its own history point-in-time (the first day has none).
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
#: The same day and the day before: a 4-hour window reaches into the previous day's last hours.
WITH_PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, allow_nonexistent_upstream_partitions=True)


def days_in(window: dg.TimeWindow) -> list[date]:
    """The UTC days a partition time window covers (one for a daily run, many for a backfill)."""
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


def window_bounds(window: dg.TimeWindow) -> tuple[datetime, datetime]:
    return window.start, window.end
