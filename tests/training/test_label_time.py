"""Labels count from when they are known (`label_time`): a day is labelled only once all its labels
are, and training data cut at a time holds only labels known then."""

from __future__ import annotations

from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd

from fraud_pipelines.features import groups, label_time
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.assets import fraud_feature_view, training_dataset

N = date(2025, 1, 3)


def labels_of(days_known: dict[date, list[str]]) -> pd.DataFrame:
    """Label rows at noon of each day, known at the given times."""
    rows = [(pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=12), pd.Timestamp(known, tz="UTC"))
            for day, times in days_known.items() for known in times]
    return pd.DataFrame(rows, columns=["datetime", "label_time"])


def test_a_day_counts_as_labelled_once_its_last_label_is_known():
    labels = labels_of({date(2025, 1, 2): ["2025-01-02 13:00"], N: ["2025-01-03 20:00", "2025-01-06 09:00"],
                        date(2025, 1, 4): ["2025-01-04 18:00"]})
    latest = label_time.last_label_times(labels)
    assert label_time.known_days(latest, datetime(2025, 1, 5, tzinfo=timezone.utc)) == [date(2025, 1, 2)]
    assert label_time.known_days(latest, datetime(2025, 1, 6, 9, tzinfo=timezone.utc)) == [
        date(2025, 1, 2), N, date(2025, 1, 4)]
    cut = datetime(2025, 1, 5, tzinfo=timezone.utc)  # the end of day N+2: the N+3 label is not known yet
    problem = label_time.unknown_at(labels, datetime(2025, 1, 1, tzinfo=timezone.utc), cut, cut)
    assert problem is not None and "1 label(s)" in problem and "2025-01-03" in problem


def run_training(instance, resources, **config):
    return dg.materialize([fraud_feature_view, training_dataset], resources=resources, instance=instance,
                          run_config={"ops": {"training_dataset": {"config": {"min_positives": 1, **config}}}},
                          raise_on_error=False)


def test_training_data_cut_before_a_label_is_known_does_not_hold_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path))
    source = RawSourceResource(n_cards=300, transactions_per_day=300, horizon_days=10, seed=4, fraud_rate=0.05)
    resources = {"storage": StorageResource(), "raw_source": source, "mlflow": MlflowResource()}
    tags = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-08"}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS], tags=tags, resources=resources, instance=instance).success
    fs = StorageResource().feature_store()
    labels = groups.FRAUD_LABELS.get_or_create(fs).read()
    of_n = labels[labels["datetime"].dt.date == N]
    late = of_n.sort_values("label_time").iloc[-1]  # day N's last label
    assert late["label_time"] > pd.Timestamp("2025-01-06", tz="UTC")  # known after day N+2

    ranges = dict(train_start="2025-01-01", train_end="2025-01-04", validation_end="2025-01-05",
                  test_end="2025-01-06")
    refused = run_training(instance, resources, **ranges, labels_known_at="2025-01-06T00:00:00")  # cut at N+2
    assert not refused.success
    error = next(e for e in refused.get_step_failure_events()).event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert error.cls_name == "SplitError" and "label_time" in error.message and "2025-01-01" in error.message
    assert fraud_view.get_or_create(fs).training_dataset_versions() == []

    latest = label_time.last_label_times(labels)
    cut = max(latest[date(2025, 1, d)] for d in range(1, 6))  # days 1..5 all known, not every later one
    assert max(latest.values()) > cut
    derived = run_training(instance, resources, labels_known_at=cut.isoformat())
    assert derived.success
    record = fraud_view.get_or_create(fs).get_training_dataset(1)
    end = max(window.end for window in record.splits.values())
    known = label_time.known_days(latest, cut)
    assert len(known) >= 5 and end == pd.Timestamp(known[-1], tz="UTC") + pd.Timedelta(days=1)
    in_data = labels[labels["datetime"] < end]
    assert (in_data["label_time"] <= cut).all() and (labels["label_time"] > cut).any()
