"""The retraining sensors count a day as labelled only once all its labels are known (label_time)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd

from fraud_pipelines.automation import signals
from fraud_pipelines.features import groups, label_time
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource


def test_a_materialized_day_counts_once_its_last_label_is_known(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path))
    source = RawSourceResource(n_cards=200, transactions_per_day=150, horizon_days=6, seed=8, fraud_rate=0.05)
    tags = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-04"}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS], tags=tags, instance=instance,
                          resources={"storage": StorageResource(), "raw_source": source}).success
    days = [date(2025, 1, d) for d in range(1, 5)]
    assert signals.labelled_days(instance) == days  # materialized, whatever is known
    storage = StorageResource()
    latest = label_time.last_label_times(groups.FRAUD_LABELS.get_or_create(storage.feature_store()).read())
    second = max(latest[days[0]], latest[days[1]])
    before = second - pd.Timedelta(microseconds=1)
    assert signals.labelled_days(instance, storage=storage, at=before) == ([days[0]] if latest[days[0]] <= before
                                                                          else [])
    counted = signals.labelled_days(instance, storage=storage, at=second)
    assert counted[:2] == days[:2] and all(latest[d] <= second for d in counted)
    assert signals.labelled_days(instance, storage=storage, at=max(latest.values())) == days
    assert signals.labelled_days(instance, storage=storage) == days  # now: the 2025 labels are all known
