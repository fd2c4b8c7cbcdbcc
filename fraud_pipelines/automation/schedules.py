"""The daily schedule: at 00:30 UTC, yesterday's partition of `daily_job` (raw → feature groups →
batch scores → drift), carried by the tick as its partition key.

Missed days are picked up by the next tick: if the days before yesterday were never ingested
(the daemon was down, a tick was skipped), the tick asks for one run over the gap and yesterday,
in order, as a partition range; days' features depend on earlier days, so a gap is filled before
the days after it are rebuilt. Gaps longer than `MAX_CATCH_UP_DAYS` are left to a backfill (see the
README); the run's tags say so. While feature days are out of date (`automation/staleness.py`), a
tick waits for their rebuild: a new day built on them would be refused. A day that ran and failed
is not retried by the schedule: the failure is visible in the UI with its reason, and re-executing
it is a deliberate act.
"""


from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from fraud_pipelines.automation.jobs import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    REASON_TAG,
    TRIGGER_TAG,
    daily_job,
)
from fraud_pipelines.automation.staleness import stale_summary
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.settings import start_date

CRON = "30 0 * * *"
MAX_CATCH_UP_DAYS = 7
#: A day counts as ingested once this asset has a materialization for it.
INGESTED_ASSET = dg.AssetKey("raw_transactions")
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class TickPlan:
    """The days one tick runs (first..last, in one run) and any older gap left for a backfill."""

    first: date
    last: date
    older_gap: tuple[date, date] | None = None

    def describe(self) -> str:
        """Why the tick asks for these days (the run's reason tag)."""
        if self.first == self.last:
            text = f"daily run for {self.last}"
        else:
            days = (self.last - self.first).days + 1
            text = f"catch-up: {self.first}..{self.last} in one run ({days} days never ingested)"
        if self.older_gap:
            text += (f"; {self.older_gap[0]}..{self.older_gap[1]} is older than {MAX_CATCH_UP_DAYS} days: "
                     "backfill it (README, Automation)")
        return text


def plan_tick(target: date, ingested: set[date], *, max_catch_up: int = MAX_CATCH_UP_DAYS) -> TickPlan | None:
    """The run a tick for `target` (yesterday) should launch, or None if `target` is already ingested.

    With nothing ingested before `target`, just `target` (a new project starts from a backfill).
    Otherwise every day after the last ingested one, up to `target`, capped at `max_catch_up` days.
    """
    if target in ingested:
        return None
    earlier = [d for d in ingested if d < target]
    if not earlier:
        return TickPlan(target, target)
    first = max(earlier) + timedelta(days=1)
    older_gap = None
    if (target - first).days + 1 > max_catch_up:
        capped = target - timedelta(days=max_catch_up - 1)
        older_gap = (first, capped - timedelta(days=1))
        first = capped
    return TickPlan(first, target, older_gap)


def tick_target(scheduled: datetime | None) -> date:
    """The partition a tick at `scheduled` (UTC) is for: the day before."""
    moment = (scheduled or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.date() - timedelta(days=1)


def run_request_for(plan: TickPlan) -> dg.RunRequest:
    """One run: a partition key for a single day, a partition range for a catch-up."""
    tags = {TRIGGER_TAG: "daily_schedule", REASON_TAG: plan.describe()}
    if plan.first == plan.last:
        return dg.RunRequest(run_key=plan.last.isoformat(), partition_key=plan.last.isoformat(), tags=tags)
    return dg.RunRequest(
        run_key=f"{plan.first}..{plan.last}",
        tags={**tags, RANGE_START_TAG: plan.first.isoformat(), RANGE_END_TAG: plan.last.isoformat()},
    )


@dg.schedule(
    job=daily_job,
    cron_schedule=CRON,
    execution_timezone="UTC",
    name="daily_schedule",
    description="Each day at 00:30 UTC: yesterday's raw → features → scores → drift; days missed since the last "
                f"ingested one (up to {MAX_CATCH_UP_DAYS}) are caught up in the same run.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
    target = tick_target(context.scheduled_execution_time)
    if target < start_date():
        return dg.SkipReason(f"{target} is before the first daily partition {start_date()}")
    running = context.instance.get_run_records(dg.RunsFilter(job_name=daily_job.name, statuses=IN_FLIGHT), limit=1)
    if running:
        run = running[0].dagster_run
        return dg.SkipReason(f"daily_job run {run.run_id[:8]} is still {run.status.value}; the next tick picks up "
                             f"{target} after it, so days stay in order")
    stale = stale_summary(storage)
    if stale is not None:  # a new day would be refused on top of an out-of-date one
        return dg.SkipReason(f"feature days from {stale[0]} are out of date ({stale[2]}); stale_features_sensor "
                             f"rebuilds them first, and the next tick picks up {target} after them")
    ingested = {date.fromisoformat(k) for k in context.instance.get_materialized_partitions(INGESTED_ASSET)}
    plan = plan_tick(target, ingested)
    if plan is None:
        return dg.SkipReason(f"{target} is already ingested; nothing to do")
    return run_request_for(plan)


SCHEDULES = [daily_schedule]
