"""The data drift is measured on: the champion's training features, profiled once per training
dataset version (a version never changes, so its profile is cached), and the features of the
latest scored days, read through the same feature view and transformations."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from feature_logic.schema import UTC_TIMESTAMP
from fraud_pipelines.automation.drift import FeatureProfile, profile_frame
from fraud_pipelines.features import groups
from fraud_pipelines.settings import local_home
from fraud_pipelines.tables import DeltaDayTable, day_window
from fraud_pipelines.training import fraud_view

#: The PSI table: one row per (day, feature), partitioned by day.
DRIFT_SCHEMA = pa.schema([
    ("datetime", UTC_TIMESTAMP),  # the measured day (00:00 UTC)
    ("feature", pa.string()),
    ("psi", pa.float64()),
    ("level", pa.string()),
    ("reference_rows", pa.int64()),
    ("current_rows", pa.int64()),
    ("window_start", UTC_TIMESTAMP),
    ("training_dataset_version", pa.string()),
    ("model_version", pa.string()),
])


def drift_table(location: str, storage_options: dict[str, str] | None = None) -> DeltaDayTable:
    """The `feature_drift` Delta table under a storage location."""
    return DeltaDayTable(f"{location}/monitoring/feature_drift", DRIFT_SCHEMA, time_column="datetime",
                         storage_options=storage_options)


def categorical_features() -> set[str]:
    """Features the view label-encodes: compared category by category, not by quantile bins."""
    return {name for name, function in fraud_view.TRANSFORMATIONS.items() if function == "label_encoder"}


def reference_profiles(fv: Any, training_dataset_version: int, *, bins: int,
                       cache_dir: Path | None = None) -> dict[str, FeatureProfile]:
    """Profiles of the train split of a training dataset version, computed once and cached as JSON."""
    folder = cache_dir or local_home() / "monitoring" / "drift_reference"
    path = folder / f"{fv.name}_v{fv.version}_td{training_dataset_version}_bins{bins}.json"
    if path.exists():
        return {name: FeatureProfile.from_dict(doc) for name, doc in json.loads(path.read_text()).items()}
    x_train = fv.get_train_validation_test_split(training_dataset_version)[0]
    profiles = profile_frame(x_train, categorical=categorical_features() & set(x_train.columns), bins=bins)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({n: p.to_dict() for n, p in profiles.items()}, indent=1))
    temporary.replace(path)  # atomic: a reader never sees half a profile
    return profiles


def scored_features(fs: Any, fv: Any, first: date, last: date, *, event_time: bool = False) -> pd.DataFrame:
    """Transformed features of every charge from `first` to `last` (inclusive), as batch scoring
    sees them (call `fv.init_batch_scoring(version)` first); with `event_time`, their `datetime` too."""
    start, end = day_window(first)[0], day_window(last)[1]
    spine = groups.TRANSACTIONS.get_or_create(fs).read(start, end, columns=["tid", "datetime"])
    if spine.empty:
        return pd.DataFrame(columns=[*fv.feature_names(), *(["datetime"] if event_time else [])])
    return fv.get_batch_data(spine=spine[["tid", "datetime"]], event_time=event_time)


def window_for(day: date, window_days: int) -> tuple[date, date]:
    """The trailing window of `window_days` days ending with `day`."""
    return day - timedelta(days=window_days - 1), day
