"""Sensors on run outcomes: rebuild what an ingested inbox file changed, and put every failed run's
reason on the run itself (a tag in the runs list) and in the sensor's log."""


from collections import defaultdict
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

FAILURE_TAG = "fraud/failure_reason"
#: Run tags stay short in the runs list; the full account is in the run's own log.
MAX_REASON_CHARS = 400
FEATURES_ASSET = dg.AssetKey("transactions_fg")


def ingested_days(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[date]]:
    """Raw table → days an inbox run wrote (from its materialization events)."""
    found: dict[str, set[date]] = defaultdict(set)
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        event = entry.dagster_event
        if event is not None and event.partition:
            found[event.asset_key.to_user_string().removeprefix("raw_")].add(date.fromisoformat(event.partition))
    return {table: sorted(days) for table, days in found.items()}


def refresh_run_key(inbox_run_id: str) -> str:
    """The run key of the refresh an inbox run calls for (one per inbox run)."""
    return f"refresh:{inbox_run_id}"


def refresh_request(
    run_id: str, days_by_table: dict[str, list[date]], built_through: date | None
) -> dg.RunRequest | None:
    """The refresh an inbox run calls for: new transactions rebuild every feature from their first day
    up to the last day already built (later days read earlier charges); labels rebuild only labels."""
    if not days_by_table:
        return None
    first = min(days[0] for days in days_by_table.values())
    last = max(days[-1] for days in days_by_table.values())
    selection = None
    if "transactions" in days_by_table:
        last = max(last, built_through or last)
    else:
        selection = [dg.AssetKey("fraud_labels_fg")]
    tables = ", ".join(f"{t} {d[0]}..{d[-1]}" for t, d in sorted(days_by_table.items()))
    tags = {TRIGGER_TAG: "inbox_refresh_sensor",
            REASON_TAG: f"inbox run {run_id[:8]} replaced raw {tables}; rebuilding {first}..{last}"}
    if first == last:
        return dg.RunRequest(run_key=refresh_run_key(run_id), partition_key=first.isoformat(), tags=tags,
                             asset_selection=selection)
    return dg.RunRequest(run_key=refresh_run_key(run_id), asset_selection=selection,
                         tags={**tags, RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()})


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[inbox_ingest_job],
                      request_job=refresh_job, name="inbox_refresh_sensor",
                      description="After an inbox file is ingested, rebuild the features, scores and drift it changed.")
def inbox_refresh_sensor(context: dg.RunStatusSensorContext):
    run_id = context.dagster_run.run_id
    built = context.instance.get_materialized_partitions(FEATURES_ASSET)
    built_through = max(date.fromisoformat(k) for k in built) if built else None
    request = refresh_request(run_id, ingested_days(context.instance, run_id), built_through)
    return request or dg.SkipReason(f"inbox run {run_id[:8]} wrote no raw partition")


def failure_reason(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The first failed check's description, else the first failed step's error, shortened."""
    entries = instance.all_logs(run_id, of_type={dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                                 dg.DagsterEventType.STEP_FAILURE})
    failures = []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not data.passed:
            where = f"{data.asset_key.to_user_string()}" + (f" [{data.partition}]" if data.partition else "")
            return _shorten(f"check {data.check_name} on {where} failed: {data.description or 'no description'}")
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            user = getattr(data, "user_failure_data", None)
            text = user.description if user is not None and user.description else data.error.message
            failures.append(f"step {event.step_key} failed: {text}")
    return _shorten(failures[0]) if failures else None


def _shorten(text: str) -> str:
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= MAX_REASON_CHARS else flat[: MAX_REASON_CHARS - 1] + "…"


@dg.run_failure_sensor(name="failure_reason_sensor", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Tags each failed run with its reason (failed check or step error) so the runs "
                                   "list says why, and logs it in the sensor's ticks. On by default: it costs a "
                                   "query per failed run.")
def failure_reason_sensor(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    reason = failure_reason(context.instance, run.run_id) or _shorten(context.failure_event.message or "unknown")
    context.instance.add_run_tags(run.run_id, {FAILURE_TAG: reason})
    context.log.info(f"run {run.run_id[:8]} of {run.job_name} failed: {reason}")
