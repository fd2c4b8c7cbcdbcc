"""Out-of-date feature days are rebuilt in order: a raw day replaced by any path (landing file,
inbox, a re-run), or a feature day rebuilt alone, leaves the later days that read it out of date
(`features/day_lineage.py`). `stale_features_sensor` asks for one `refresh_job` run from the first
out-of-date day through the last built day; the daily schedule waits for it (`daily_schedule`).
An inbox file's own refresh (`inbox_refresh_sensor`) goes first: while it is due, this sensor waits,
so the two never rebuild the same days side by side."""

import hashlib
import time
from datetime import date

import dagster as dg

from fraud_pipelines.automation.jobs import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    REASON_TAG,
    TRIGGER_TAG,
    inbox_ingest_job,
    refresh_job,
)
from fraud_pipelines.automation.run_sensors import ingested_days, refresh_run_key
from fraud_pipelines.features import day_lineage
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.settings import start_date

STALE_INTERVAL_SECONDS = 60
#: How long an inbox run's own refresh is waited for before this sensor rebuilds its days itself (the
#: run-status sensor answers within seconds when it is on; when it is off, nothing is left stale).
INBOX_REFRESH_GRACE_SECONDS = 300
RUN_KEY_TAG = "dagster/run_key"  # the tag Dagster puts on every run a sensor requested with a run key
#: Jobs whose runs write feature days: while one is in flight, staleness is not judged.
WRITING_JOBS = ("daily_job", "refresh_job", "fraud_pipeline_job", "inbox_ingest_job")
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def stale_summary(storage: StorageResource) -> tuple[date, date, str, str] | None:
    """(first out-of-date day, last built day, why, a digest of the stale state) or None when current."""
    stale = day_lineage.stale_days(storage, start_date())
    first = day_lineage.first_out_of_date(stale)
    if first is None:
        return None
    built = day_lineage.lineage_of(storage).builds(day_lineage.TRANSACTIONS)
    digest = hashlib.sha1(repr(sorted((a, d.isoformat(), r) for (a, d), r in stale.items())).encode()).hexdigest()
    return first[0], max(built), f"{first[1]} ({len(stale)} asset-day(s) out of date)", digest[:12]


def writing_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """A run in flight that writes feature days, if any."""
    for job in WRITING_JOBS:
        records = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=IN_FLIGHT), limit=1)
        if records:
            return records[0].dagster_run
    return None


def awaited_inbox_refresh(instance: dg.DagsterInstance, *, now: float | None = None) -> dg.DagsterRun | None:
    """The latest inbox run that replaced raw transactions, if its own refresh has not been requested
    yet and it ended less than INBOX_REFRESH_GRACE_SECONDS ago; None otherwise."""
    records = instance.get_run_records(
        dg.RunsFilter(job_name=inbox_ingest_job.name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    if not records or records[0].end_time is None:
        return None
    if (time.time() if now is None else now) - records[0].end_time > INBOX_REFRESH_GRACE_SECONDS:
        return None
    run = records[0].dagster_run
    if instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: refresh_run_key(run.run_id)}), limit=1):
        return None
    return run if "transactions" in ingested_days(instance, run.run_id) else None


def refresh_request(first: date, last: date, why: str, digest: str) -> dg.RunRequest:
    """One refresh run over first..last, in order (a range, or one partition)."""
    tags = {TRIGGER_TAG: "stale_features_sensor", REASON_TAG: f"rebuilding {first}..{last} in order: {why}"[:1_000]}
    run_key = f"stale:{first}:{last}:{digest}"
    if first == last:
        return dg.RunRequest(run_key=run_key, partition_key=first.isoformat(), tags=tags)
    return dg.RunRequest(run_key=run_key, tags={**tags, RANGE_START_TAG: first.isoformat(),
                                                RANGE_END_TAG: last.isoformat()})


@dg.sensor(job=refresh_job, minimum_interval_seconds=STALE_INTERVAL_SECONDS,
           description="Rebuild, in one run and in order, every feature day whose inputs changed after it was built "
                       "(a raw day replaced by a landing file or the inbox, an earlier day rebuilt), and the scores "
                       "and drift of those days.")
def stale_features_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    running = writing_run(context.instance)
    if running is not None:
        return dg.SkipReason(f"{running.job_name} run {running.run_id[:8]} is {running.status.value}; "
                             "staleness is judged after it")
    inbox_run = awaited_inbox_refresh(context.instance)
    if inbox_run is not None:
        return dg.SkipReason(f"inbox run {inbox_run.run_id[:8]} replaced raw transactions and inbox_refresh_sensor "
                             f"rebuilds what it changed; staleness is judged after that refresh (or "
                             f"{INBOX_REFRESH_GRACE_SECONDS} s after the inbox run if none is requested)")
    summary = stale_summary(storage)
    if summary is None:
        return dg.SkipReason("every stored feature day matches what it was built from")
    return refresh_request(*summary)
