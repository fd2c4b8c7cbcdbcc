"""Real Dagster runs of the feature assets: a backfill in one run and daily runs write the same
bits; re-runs replace; history a day needs comes through declared dependencies."""

from __future__ import annotations

import sqlite3

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import RawSourceResource, StorageResource

# Sparse cards (~0.2 charges a card a day): many cards' previous charge is days old.
SPARSE = dict(n_cards=1_500, transactions_per_day=300, horizon_days=12, seed=11, fraud_rate=0.01)
ALL = [*RAW_ASSETS, *RAW_CHECKS, *FEATURE_ASSETS, *FEATURE_CHECKS]
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"]


def resources():
    return {"storage": StorageResource(), "raw_source": RawSourceResource(**SPARSE)}


def run(*, instance, partition_key=None, partition_range=None):
    tags = {}
    if partition_range:
        tags = {"dagster/asset_partition_range_start": partition_range[0],
                "dagster/asset_partition_range_end": partition_range[1]}
    result = dg.materialize(ALL, partition_key=partition_key, tags=tags, resources=resources(), instance=instance)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    return result


def group_contents() -> dict[str, pd.DataFrame]:
    fs = StorageResource().feature_store()
    out = {}
    for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS):
        frame = spec.get_or_create(fs).read()
        out[spec.name] = frame.sort_values("tid").reset_index(drop=True)
    return out


def assert_identical_bits(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        a, b = left[name], right[name]
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for column in a.columns:
            if a[column].dtype == np.float64:  # NaN-safe, bit-level comparison
                assert np.array_equal(a[column].to_numpy().view(np.int64), b[column].to_numpy().view(np.int64)), (
                    name,
                    column,
                )


def test_backfill_in_one_run_equals_daily_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "backfill"))
    instance = dg.DagsterInstance.ephemeral()
    backfill = run(instance=instance, partition_range=(DAYS[0], DAYS[-1]))
    assert instance.get_runs_count() == 1
    fg_partitions = {m.partition for m in backfill.get_asset_materialization_events()
                     if m.asset_key == dg.AssetKey("transactions_fg")}
    assert fg_partitions == set(DAYS)
    whole = group_contents()

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "daily"))
    instance = dg.DagsterInstance.ephemeral()
    for day in DAYS:
        run(instance=instance, partition_key=day)
    daily = group_contents()
    assert_identical_bits(whole, daily)

    # The sparse cards really exercise long gaps: some previous charges are days old.
    gaps = whole["transactions"]["time_delta_t_minus_1"].dropna()
    assert (gaps > 2 * 86_400).any()
    assert len(whole["transactions"]) == len(whole["transactions_4h_aggs"]) == len(whole["fraud_labels"])


def test_backfill_starting_after_stored_days_equals_daily_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "mixed"))
    instance = dg.DagsterInstance.ephemeral()
    run(instance=instance, partition_key=DAYS[0])
    run(instance=instance, partition_key=DAYS[1])
    run(instance=instance, partition_range=(DAYS[2], DAYS[-1]))
    mixed = group_contents()

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "daily"))
    instance = dg.DagsterInstance.ephemeral()
    for day in DAYS:
        run(instance=instance, partition_key=day)
    assert_identical_bits(mixed, group_contents())


def test_rerunning_a_day_replaces_it_without_duplicates():
    instance = dg.DagsterInstance.ephemeral()
    run(instance=instance, partition_range=(DAYS[0], DAYS[2]))
    before = group_contents()
    run(instance=instance, partition_key=DAYS[1])
    after = group_contents()
    assert_identical_bits(before, after)
    assert after["transactions"]["tid"].is_unique


@pytest.mark.parametrize("spec", [groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS])
def test_tid_keyed_groups_keep_no_online_copy(spec):
    """Serving reads the card state, never a charge's stored features: no online table is written."""
    run(instance=dg.DagsterInstance.ephemeral(), partition_range=(DAYS[0], DAYS[1]))
    fs = StorageResource().feature_store()
    fg = spec.get_or_create(fs)
    assert not fg.online_enabled and len(fg.read()) > 0
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        fs.online_store.read(fg.online_table(), [(int(fg.read().tid.iloc[0]),)], ["cc_num"])
