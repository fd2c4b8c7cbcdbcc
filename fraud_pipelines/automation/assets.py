"""Monitoring assets: `feature_drift`, the PSI of each model feature between the champion's
training data and the latest scored days, stored as a Delta table and shown as metadata. The
drift sensor reads its latest materialization."""


from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from fraud_pipelines.automation import drift_data
from fraud_pipelines.automation.drift import psi_table
from fraud_pipelines.metadata import frame_table
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.per_day import days_text
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.tables import day_window
from fraud_pipelines.training import fraud_view

GROUP = "monitoring"
#: Days measured per read of scored features during a backfill.
CHUNK_DAYS = 10


class DriftConfig(dg.Config):
    """How drift is measured: the trailing window of scored days, and the bins per numeric feature."""

    window_days: int = Field(default=3, ge=1, description="Scored days compared, ending with the partition's day.")
    bins: int = Field(default=10, ge=2, description="Quantile bins per numeric feature (from the training data).")


@dg.asset(
    pool="feature_drift",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "pandas"},
    deps=["batch_scores"],
    description="Population stability index (PSI) per model feature: the champion's training data against "
                "the scored charges of the trailing window ending with each day.",
)
def feature_drift(context: dg.AssetExecutionContext, config: DriftConfig, storage: StorageResource,
                  mlflow: MlflowResource) -> dg.MaterializeResult:
    champion = mlflow.get_champion()
    if champion is None or champion.training_dataset_version is None:
        raise dg.Failure(description="no champion model with a training dataset yet: materialize registered_model "
                                     "first; drift is measured against the champion's training data")
    version = int(champion.training_dataset_version)
    fs = storage.feature_store()
    fv = fraud_view.get_or_create(fs)
    profiles = drift_data.reference_profiles(fv, version, bins=config.bins)
    fv.init_batch_scoring(version)
    days = days_in(context.partition_time_window)
    tables = []
    for chunk in _chunks(days):  # one read per chunk of days (plus its window), bounded memory
        first_read = drift_data.window_for(chunk[0], config.window_days)[0]
        scored = drift_data.scored_features(fs, fv, first_read, chunk[-1], event_time=True)
        for day in chunk:
            first, last = drift_data.window_for(day, config.window_days)
            start, end = day_window(first)[0], day_window(last)[1]
            current = scored[(scored["datetime"] >= start) & (scored["datetime"] < end)]
            if current.empty:
                raise dg.Failure(description=f"no scored charges from {first} to {last}: nothing to measure drift on")
            table = psi_table(profiles, current)
            tables.append(table.assign(datetime=day_window(day)[0], window_start=start,
                                       training_dataset_version=str(version), model_version=str(champion.version)))
            context.add_asset_metadata(_day_drift(table, first, last, len(current)), partition_key=day.isoformat())
            context.log.info(f"feature_drift {day}: max PSI {table['psi'].iloc[0]:.3f} ({table['feature'].iloc[0]}) "
                             f"over {len(current):,} charges")
    stored = pd.concat(tables, ignore_index=True)
    written = drift_data.drift_table(storage.location, storage.storage_options).replace_days(stored, days)
    return dg.MaterializeResult(metadata={
        "run_days": days_text(days[0], days[-1]),
        "model_version": str(champion.version),
        "training_dataset_version": str(version),
        "dagster/uri": drift_data.drift_table(storage.location).uri,
        "delta_version": written["delta_version"],
    })


def _day_drift(table: pd.DataFrame, first: date, last: date, charges: int) -> dict:
    """One day's drift: its window, its PSI per feature (largest first) and its own row count."""
    return {
        "day": last.isoformat(),
        "window": f"{days_text(first, last)} (inclusive, {charges:,} charges)",
        "psi": dg.MetadataValue.json({f: round(float(v), 6) for f, v in zip(table["feature"], table["psi"])}),
        "max_psi": float(table["psi"].iloc[0]),
        "max_psi_feature": str(table["feature"].iloc[0]),
        "psi_table": frame_table(table.round(4)),
        "dagster/row_count": len(table),
    }


def _chunks(days: list[date], size: int = CHUNK_DAYS) -> list[list[date]]:
    return [days[i : i + size] for i in range(0, len(days), size)]


AUTOMATION_ASSETS = [feature_drift]
