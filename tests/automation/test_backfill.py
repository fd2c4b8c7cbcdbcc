"""A backfill of daily_job over N days (one run, single-run backfill policies) writes the same
feature rows, scores and drift table, bit for bit, as N runs launched by the daily schedule."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd

from bench.simulation import backfill
from fraud_pipelines.automation.drift_data import drift_table
from fraud_pipelines.features import groups
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.scoring.assets import scores_table

DAYS = [date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15)]


def written() -> dict[str, pd.DataFrame]:
    """Every table daily_job writes, in a fixed row order."""
    storage = StorageResource()
    fs = storage.feature_store()
    out = {spec.name: spec.get_or_create(fs).read().sort_values("tid").reset_index(drop=True)
           for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS)}
    out["batch_scores"] = scores_table(storage).read().sort_values("tid").reset_index(drop=True)
    out["feature_drift"] = (drift_table(storage.location).read().sort_values(["datetime", "feature"])
                            .reset_index(drop=True))
    return out


def assert_same_bits(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for name in left:
        a, b = left[name], right[name]
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        for column in a.columns:
            if a[column].dtype == np.float64:
                assert np.array_equal(a[column].to_numpy().view(np.int64), b[column].to_numpy().view(np.int64)), \
                    (name, column)


def test_a_backfill_over_n_days_equals_n_daily_runs(make_world, tmp_path):
    daily = make_world()
    for day in DAYS:
        daily.day(day)
    assert daily.instance.get_runs_count() == len(DAYS)
    by_day = written()

    ranged = make_world(home=tmp_path / "backfill_home")
    result = backfill(ranged.defs, ranged.instance, "daily_job", DAYS[0], DAYS[-1], log_level="WARNING")
    assert result.success and ranged.instance.get_runs_count() == 1
    for asset in ("raw_transactions", "transactions_fg", "batch_scores", "feature_drift"):
        assert ranged.instance.get_materialized_partitions(dg.AssetKey(asset)) == {d.isoformat() for d in DAYS}
    by_range = written()

    for day in DAYS:  # the new days are really there, not only the champion's history
        assert (by_range["batch_scores"]["datetime"].dt.date == day).sum() > 500
    assert_same_bits(by_day, by_range)
    # What the UI shows for each day of the backfill is what the daily runs showed for it.
    for asset in ("raw_transactions", "raw_fraud_labels", "transactions_fg", "transactions_4h_aggs",
                  "fraud_labels_fg", "batch_scores", "feature_drift"):
        for day in DAYS:
            daily_meta, ranged_meta = (day_metadata(world.instance, asset, day.isoformat())
                                       for world in (daily, ranged))
            assert daily_meta == ranged_meta and daily_meta, (asset, day)


SHOWN = ("dagster/row_count", "first_event_time", "last_event_time", "frauds", "alerts", "max_psi",
         "max_psi_feature", "psi", "day", "window")


def day_metadata(instance: dg.DagsterInstance, asset: str, day: str) -> dict:
    """The per-day entries of a partition's latest materialization."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1).records
    metadata = record.asset_materialization.metadata
    return {k: metadata[k].value for k in SHOWN if k in metadata}
