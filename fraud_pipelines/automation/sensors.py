"""Retraining sensors (new labels, drift, decay) and the file-arrival sensor.

Each retraining sensor keeps a cursor (`policy.SensorCursor`): the champion it watched, what it last
read, and the day through which it already asked for retraining, so an unchanged world never
yields a second request. A request launches `retrain_job` with tags saying which sensor fired and
why; a skipped evaluation says why in the sensor's tick history. Retraining trains, evaluates and
only then may promote: the champion alias moves only for a better model (the registry rule).
"""


import json
from dataclasses import replace
from datetime import date, timedelta

import dagster as dg

from fraud_pipelines.automation import inbox, signals
from fraud_pipelines.automation.decay import judge_decay
from fraud_pipelines.automation.drift import ranked_beyond
from fraud_pipelines.automation.jobs import (
    CHAMPION_TAG,
    REASON_TAG,
    TRIGGER_TAG,
    inbox_ingest_job,
    retrain_job,
)
from fraud_pipelines.automation.policy import RetrainPolicy, SensorCursor
from fraud_pipelines.resources import MlflowResource, StorageResource

#: Seconds between evaluations of the retraining sensors (their reads touch MLflow and Delta).
RETRAIN_INTERVAL_SECONDS = 300
INBOX_INTERVAL_SECONDS = 30
#: A dropped file must be unchanged this long before it is read (it may still be copying).
INBOX_SETTLE_SECONDS = 5.0


def _skip(reason: str, cursor: SensorCursor) -> dg.SensorResult:
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor.dump())


def _retrain(context: dg.SensorEvaluationContext, policy: RetrainPolicy, trigger: str, key: str, reason: str,
             champion: str, cursor: SensorCursor) -> dg.SensorResult:
    """A retraining request, unless a retraining run already started on the latest labels (then this
    sensor counts it as its own request, so the same data is never trained on twice)."""
    running = signals.retrain_on_latest_labels(context.instance)
    if running is not None:
        run = running.dagster_run
        return _skip(f"{reason}; but retraining run {run.run_id[:8]} ({run.tags.get(TRIGGER_TAG, 'manual')}, "
                     f"{run.status.value}) already started on the latest labels", cursor)
    last = signals.last_labelled_day(context.instance, getattr(context.resources, "storage", None))
    request = dg.RunRequest(
        run_key=f"{trigger}:v{champion}:{key}",
        run_config=policy.training_run_config(last) if last else {},
        tags={TRIGGER_TAG: trigger, REASON_TAG: reason, CHAMPION_TAG: champion},
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor.dump())


def _counted_from(cutoff: date, cursor: SensorCursor) -> date:
    """Days from here on are new: after the cutoff and after the last request for this champion."""
    if cursor.requested_through is None:
        return cutoff
    return max(cutoff, date.fromisoformat(cursor.requested_through) + timedelta(days=1))


@dg.sensor(job=retrain_job, minimum_interval_seconds=RETRAIN_INTERVAL_SECONDS,
           description="Retrain when enough days have been labelled since the champion's training cutoff "
                       "(RetrainPolicy.new_label_days).")
def new_labels_sensor(context: dg.SensorEvaluationContext, storage: StorageResource, mlflow: MlflowResource,
                      retrain_policy: RetrainPolicy) -> dg.SensorResult:
    champion = signals.champion(storage, mlflow)
    if champion is None:
        return _skip("no champion yet: run fraud_pipeline_job (or retrain_job) once to train the first model",
                     SensorCursor.parse(context.cursor))
    cursor = SensorCursor.parse(context.cursor).for_champion(champion.version)
    since = _counted_from(champion.cutoff, cursor)
    days = signals.labelled_days(context.instance, since=since, storage=storage)
    needed = retrain_policy.new_label_days
    if len(days) < needed:
        return _skip(f"{len(days)} of {needed} labelled days since {since} (champion v{champion.version} "
                     f"was trained on labels before {champion.cutoff})", cursor)
    after = "training cutoff" if since == champion.cutoff else "last new-labels request, from"
    reason = (f"{len(days)} days labelled since champion v{champion.version}'s {after} {since}: "
              f"{signals.describe_days(days)} (threshold {needed})")
    return _retrain(context, retrain_policy, "new_labels", days[-1].isoformat(), reason, champion.version,
                    replace(cursor, requested_through=days[-1].isoformat()))


@dg.sensor(job=retrain_job, minimum_interval_seconds=RETRAIN_INTERVAL_SECONDS,
           description="Retrain when a feature's PSI against the champion's training data passes "
                       "RetrainPolicy.psi_threshold (read from the latest feature_drift materialization).")
def drift_sensor(context: dg.SensorEvaluationContext, mlflow: MlflowResource,
                 retrain_policy: RetrainPolicy) -> dg.SensorResult:
    version = mlflow.champion_version()
    if version is None:
        return _skip("no champion yet: drift is measured against the champion's training data",
                     SensorCursor.parse(context.cursor))
    cursor = SensorCursor.parse(context.cursor).for_champion(version)
    measurement = signals.latest_drift(context.instance)
    if measurement is None:
        return _skip("no drift measured yet: feature_drift materializes after batch_scores in daily_job", cursor)
    if cursor.seen is not None and int(cursor.seen) >= measurement.storage_id:
        return _skip(f"no new drift measurement since {measurement.day}", cursor)
    cursor = replace(cursor, seen=str(measurement.storage_id))
    if measurement.model_version != version:
        return _skip(f"the drift of {measurement.day} was measured against v{measurement.model_version}, not the "
                     f"champion v{version}; waiting for a measurement against v{version}", cursor)
    threshold = retrain_policy.psi_threshold
    ranked, drifted = ranked_beyond(measurement.psi, threshold)
    if not drifted:
        feature, value = ranked[0]
        return _skip(f"{measurement.day}: largest PSI {value:.3f} ({feature}) is within {threshold}", cursor)
    listed = ", ".join(f"{feature} {value:.3f}" for feature, value in drifted)
    if cursor.requested_through is not None:
        allowed_from = date.fromisoformat(cursor.requested_through) + timedelta(days=retrain_policy.drift_cooldown_days)
        if date.fromisoformat(measurement.day) < allowed_from:
            return _skip(f"{measurement.day}: drift persists ({listed}); retraining for champion v{version} was "
                         f"requested on {cursor.requested_through}, next request from {allowed_from}", cursor)
    reason = (f"PSI above {threshold} on {measurement.day} against champion v{version}'s training data: {listed}")
    return _retrain(context, retrain_policy, "drift", measurement.day, reason, version,
                    replace(cursor, requested_through=measurement.day))


@dg.sensor(job=retrain_job, minimum_interval_seconds=RETRAIN_INTERVAL_SECONDS,
           description="Retrain when the champion's PR-AUC on newly labelled days falls RetrainPolicy.pr_auc_drop "
                       "below its test PR-AUC.")
def decay_sensor(context: dg.SensorEvaluationContext, storage: StorageResource, mlflow: MlflowResource,
                 retrain_policy: RetrainPolicy) -> dg.SensorResult:
    champion = signals.champion(storage, mlflow)
    if champion is None or champion.test_pr_auc is None:
        why = "no champion yet" if champion is None else f"champion v{champion.version} has no test PR-AUC logged"
        return _skip(f"{why}: nothing to compare live performance with", SensorCursor.parse(context.cursor))
    cursor = SensorCursor.parse(context.cursor).for_champion(champion.version)
    days = signals.labelled_days(context.instance, since=_counted_from(champion.cutoff, cursor), storage=storage)
    if not days:
        return _skip(f"no labelled days after {champion.cutoff} yet for champion v{champion.version}", cursor)
    days = days[-retrain_policy.decay_window_days:]
    seen = _data_version(context.instance)
    if cursor.seen == seen:
        return _skip(f"no new labels or scores since the last evaluation ({signals.describe_days(days)})", cursor)
    cursor = replace(cursor, seen=seen)
    live = signals.live_performance(storage, champion.version, days)
    where = f"{live.rows:,} labelled charges scored by v{champion.version} on {signals.describe_days(days)}"
    decay = judge_decay(live, champion.test_pr_auc, pr_auc_drop=retrain_policy.pr_auc_drop,
                        min_positives=retrain_policy.min_positives, where=where)
    if not decay.retrain:
        return _skip(decay.why, cursor)
    reason = f"champion v{champion.version}'s {decay.why}"
    return _retrain(context, retrain_policy, "decay", days[-1].isoformat(), reason, champion.version,
                    replace(cursor, requested_through=days[-1].isoformat()))


def _data_version(instance: dg.DagsterInstance) -> str:
    """Changes whenever labels or scores are written again (e.g. corrected labels)."""
    ids = []
    for key in (signals.LABELS_ASSET, dg.AssetKey("batch_scores")):
        records = instance.fetch_materializations(key, limit=1).records
        ids.append(str(records[0].storage_id) if records else "-")
    return ":".join(ids)


@dg.sensor(job=inbox_ingest_job, minimum_interval_seconds=INBOX_INTERVAL_SECONDS,
           description="Ingest CSV/Parquet files dropped into $FRAUD_HOME/inbox/ (one run per file).")
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    folder = inbox.inbox_dir()
    files = inbox.pending_files(folder, settle_seconds=INBOX_SETTLE_SECONDS)
    requested = json.loads(context.cursor) if context.cursor else {}
    requests = [
        dg.RunRequest(
            run_key=f"inbox:{f.relative}:{f.fingerprint}",
            run_config={"ops": {"ingest_inbox_file": {"config": {"path": f.relative}}}},
            tags={TRIGGER_TAG: "inbox_sensor", REASON_TAG: f"file {f.relative} arrived in {folder}"},
        )
        for f in files if requested.get(f.relative) != f.fingerprint
    ]
    cursor = json.dumps({f.relative: f.fingerprint for f in files}, sort_keys=True)
    if not requests:
        waiting = f"{len(files)} file(s) already requested" if files else "no new files"
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{waiting} in {folder}"), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _all_sensors() -> list[dg.SensorDefinition]:
    from fraud_pipelines.automation.run_sensors import failure_reason_sensor, inbox_refresh_sensor
    from fraud_pipelines.automation.staleness import stale_features_sensor

    return [new_labels_sensor, drift_sensor, decay_sensor, inbox_sensor, inbox_refresh_sensor, failure_reason_sensor,
            stale_features_sensor]


SENSORS = _all_sensors()
#: Resources the sensors need beyond the project's defaults.
AUTOMATION_RESOURCES = {"retrain_policy": RetrainPolicy()}
