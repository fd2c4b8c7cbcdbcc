"""The maintenance job and its schedule (nightly, after the daily run; off until turned on)."""

import dagster as dg

MAINTENANCE_CRON = "0 3 * * *"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]
#: Jobs that commit to the tables: compaction would conflict with their commits, so maintenance waits.
WRITING_JOBS = ("daily_job", "refresh_job", "fraud_pipeline_job", "inbox_ingest_job", "retrain_job")

maintenance_job = dg.define_asset_job(
    "maintenance_job", selection=dg.AssetSelection.assets("delta_maintenance"),
    description="Compact, vacuum (keeping every pinned training dataset's versions) and checkpoint every Delta table.",
)


@dg.schedule(job=maintenance_job, cron_schedule=MAINTENANCE_CRON, execution_timezone="UTC",
             name="maintenance_schedule",
             description="Each night at 03:00 UTC, unless a run that writes the tables is still going.")
def maintenance_schedule(context: dg.ScheduleEvaluationContext):
    for job in WRITING_JOBS:
        records = context.instance.get_run_records(dg.RunsFilter(job_name=job, statuses=IN_FLIGHT), limit=1)
        if records:
            run = records[0].dagster_run
            return dg.SkipReason(f"{job} run {run.run_id[:8]} is {run.status.value}; maintenance waits for the next "
                                 "night so its compaction never races a commit")
    return dg.RunRequest(run_key=f"maintenance:{context.scheduled_execution_time:%Y-%m-%d}")


MAINTENANCE_JOBS = [maintenance_job]
MAINTENANCE_SCHEDULES = [maintenance_schedule]
