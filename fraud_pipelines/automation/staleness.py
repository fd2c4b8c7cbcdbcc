"""Out-of-date feature days are rebuilt in order: a raw day replaced by any path (landing file,
inbox, a re-run), or a feature day rebuilt alone, leaves the later days that read it out of date
(`features/day_lineage.py`). `stale_features_sensor` asks for one `refresh_job` run from the first
out-of-date day through the last built day; the daily schedule waits for it (`daily_schedule`)."""

import hashlib
from datetime import date

import dagster as dg

from fraud_pipelines.automation.jobs import RANGE_END_TAG, RANGE_START_TAG, REASON_TAG, TRIGGER_TAG, refresh_job
from fraud_pipelines.features import day_lineage
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.settings import start_date

STALE_INTERVAL_SECONDS = 60
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
    summary = stale_summary(storage)
    if summary is None:
        return dg.SkipReason("every stored feature day matches what it was built from")
    return refresh_request(*summary)
