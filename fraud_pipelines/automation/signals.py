"""What the retraining sensors measure: the champion and its training cutoff, the days labelled
since, the latest drift measurement, and the champion's PR-AUC on newly labelled charges.

Kept apart from the sensors so the month simulation and the tests read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from fraud_pipelines.automation.decay import LivePerformance, live_performance_of
from fraud_pipelines.features import groups, label_time
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.scoring.tables import scores_table
from fraud_pipelines.tables import day_window
from fraud_pipelines.training import fraud_view

LABELS_ASSET = dg.AssetKey("fraud_labels_fg")
DRIFT_ASSET = dg.AssetKey("feature_drift")


@dataclass(frozen=True)
class Champion:
    """The champion as the sensors see it: version, training data and the first day after it."""

    version: str
    training_dataset_version: int
    cutoff: date  # first UTC day none of whose labels were in its training dataset
    test_pr_auc: float | None


@dataclass(frozen=True)
class DriftMeasurement:
    """The latest `feature_drift` materialization: PSI per feature of a day, against which model."""

    storage_id: int
    day: str
    psi: dict[str, float]
    model_version: str


def champion(storage: StorageResource, mlflow: MlflowResource) -> Champion | None:
    """The current champion and its training cutoff (the end of its last split), or None."""
    info = mlflow.get_champion()
    if info is None or info.training_dataset_version is None:
        return None
    version = int(info.training_dataset_version)
    record = fraud_view.get_or_create(storage.feature_store()).get_training_dataset(version)
    ends = [window.end for window in record.splits.values() if window.end is not None]
    if not ends:
        raise ValueError(f"training dataset v{version} of champion v{info.version} has an open-ended split; "
                         "its training cutoff is unknown")
    last_instant = max(ends).astimezone(timezone.utc) - timedelta(microseconds=1)
    return Champion(info.version, version, last_instant.date() + timedelta(days=1), info.test_metrics.get("pr_auc"))


def labelled_days(instance: dg.DagsterInstance, *, since: date | None = None, storage: StorageResource | None = None,
                  at: datetime | None = None) -> list[date]:
    """Days whose `fraud_labels_fg` partition has been materialized (from `since` on), ascending; with
    `storage`, only those whose labels are all known at `at` (default now), up to the first day still
    waiting for one (`features/label_time.py`)."""
    keys = instance.get_materialized_partitions(LABELS_ASSET)
    days = [d for d in sorted(date.fromisoformat(k) for k in keys) if since is None or d >= since]
    if storage is None or not days:
        return days
    return label_time.labelled_days(storage.feature_store(), days, at)


def latest_drift(instance: dg.DagsterInstance) -> DriftMeasurement | None:
    """The newest `feature_drift` materialization, or None if drift was never measured."""
    records = instance.fetch_materializations(DRIFT_ASSET, limit=1).records
    if not records:
        return None
    record = records[0]
    metadata = record.asset_materialization.metadata
    return DriftMeasurement(
        storage_id=record.storage_id,
        day=str(metadata["day"].value) if "day" in metadata else str(record.partition_key),
        psi={k: float(v) for k, v in metadata["psi"].value.items()},
        model_version=str(metadata["model_version"].value),
    )


def live_performance(storage: StorageResource, model_version: str, days: list[date]) -> LivePerformance:
    """PR-AUC of `model_version`'s batch scores against the labels of `days` (only charges it scored):
    reads those days of both tables and leaves the computation to `decay.live_performance_of`."""
    if not days:
        return LivePerformance([], 0, 0, None)
    start, end = day_window(min(days))[0], day_window(max(days))[1]
    scores = scores_table(storage)
    if not scores.exists():
        return LivePerformance(sorted(days), 0, 0, None)
    scored = scores.read(start, end)
    labels = groups.FRAUD_LABELS.get_or_create(storage.feature_store()).read(start, end, columns=["tid", "is_fraud"])
    return live_performance_of(scored, labels, model_version, days)


def retrain_on_latest_labels(instance: dg.DagsterInstance, job_name: str = "retrain_job") -> dg.RunRecord | None:
    """The newest retraining run launched after the latest labels were written, if any: it already
    trains on today's data, so another request would train the same model again."""
    runs = instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1)
    if not runs:
        return None
    labels = instance.fetch_materializations(LABELS_ASSET, limit=1).records
    if labels and runs[0].create_timestamp.timestamp() <= labels[0].timestamp:
        return None
    return runs[0]


def last_labelled_day(instance: dg.DagsterInstance, storage: StorageResource | None = None) -> date | None:
    """The latest labelled day (what a retraining now would train up to); see `labelled_days`."""
    days = labelled_days(instance, storage=storage)
    return days[-1] if days else None


def describe_days(days: list[date]) -> str:
    """'2025-01-11..2025-01-14 (4 days)' for a list of days."""
    if not days:
        return "no days"
    return f"{days[0]}..{days[-1]} ({len(days)} day{'s' if len(days) != 1 else ''})"
