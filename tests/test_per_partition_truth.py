"""What the UI shows per day is that day's truth, read back through Dagster's instance API.

A 3-day backfill runs as one run; each day's materialization must carry that day's own row count
(equal to the Delta table's rows for the day), time range and statistics, and each day its own
check result. A day whose stored rows break the suite shows its check failed, the others passed;
a refused input marks the refused days failed, not materialized."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus as Status,
)

from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.partitions import DAILY
from fraud_pipelines.raw.assets import RAW_ASSETS, raw_fraud_labels, raw_transactions
from fraud_pipelines.raw.checks import RAW_CHECKS, raw_transactions_suite
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.tables import day_window
from tests.raw.hostile import DAYS, GENERATOR, labels, transactions, write

FIRST, LAST = "2025-01-01", "2025-01-03"
KEYS = [FIRST, "2025-01-02", LAST]
SMALL = dict(n_cards=30, transactions_per_day=200, horizon_days=5, seed=11)


def run_range(instance, assets, resources, selection=None, first=FIRST, last=LAST):
    return dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False, selection=selection,
                          tags={"dagster/asset_partition_range_start": first,
                                "dagster/asset_partition_range_end": last})


def latest_metadata(instance, key: dg.AssetKey, partition: str) -> dict:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
                                              limit=1).records
    assert records, f"no materialization of {key.to_user_string()} {partition}"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def check_status(instance, check: dg.AssetChecksDefinition) -> dict[str, Status]:
    infos = instance.event_log_storage.get_asset_check_partition_info([check.check_key])
    return {info.partition_key: info for info in infos}


@pytest.fixture()
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield instance


def test_each_day_of_one_run_carries_its_own_metadata_and_check_result(instance):
    storage = StorageResource()
    resources = {"storage": storage, "raw_source": RawSourceResource(**SMALL)}
    result = run_range(instance, [*RAW_ASSETS, *RAW_CHECKS, *FEATURE_ASSETS, *FEATURE_CHECKS], resources)
    assert result.success
    assert len(instance.get_run_records()) == 1  # the backfill was one run

    fs = storage.feature_store()
    tables = {
        raw_transactions.key: lambda s, e: storage.raw_table("transactions").read(s, e),
        raw_fraud_labels.key: lambda s, e: storage.raw_table("fraud_labels").read(s, e),
        dg.AssetKey("transactions_fg"): lambda s, e: fs.get_feature_group("transactions", version=1).read(
            start_time=s, end_time=e),
        dg.AssetKey("fraud_labels_fg"): lambda s, e: fs.get_feature_group("fraud_labels", version=1).read(
            start_time=s, end_time=e),
        dg.AssetKey("transactions_4h_aggs"): lambda s, e: fs.get_feature_group("transactions_4h_aggs", version=1).read(
            start_time=s, end_time=e),
    }
    for key, read in tables.items():
        counts = []
        for partition in KEYS:
            start, end = day_window(date.fromisoformat(partition))
            stored = read(start, end)
            meta = latest_metadata(instance, key, partition)
            assert meta["dagster/row_count"] == len(stored) > 0, (key, partition)
            assert meta["first_event_time"].startswith(partition) and meta["last_event_time"].startswith(partition)
            statistics = {r.data["column"]: r.data for r in meta["statistics"].records}  # a table, not raw JSON
            assert statistics["tid"]["rows"] == len(stored)  # the day's own statistics, not the last chunk's
            counts.append(meta["dagster/row_count"])
        assert len(set(counts)) > 1 or key == raw_fraud_labels.key, f"{key}: every day shows the same count"

    for check in [*RAW_CHECKS[:2], *FEATURE_CHECKS]:
        status = check_status(instance, check)
        assert {k: status[k].latest_execution_status for k in KEYS} == dict.fromkeys(KEYS, Status.SUCCEEDED), check
        assert all(status[k].is_current for k in KEYS), f"{check.check_key.name}: result not tied to its day"
    by_day = {e.partition: e.metadata["rows"].value for e in result.get_asset_check_evaluations()
              if e.check_name == raw_transactions_suite.check_key.name}
    assert by_day == {k: latest_metadata(instance, raw_transactions.key, k)["dagster/row_count"] for k in KEYS}


def test_a_day_with_a_failing_row_shows_failed_and_the_others_passed(instance):
    storage = StorageResource()
    resources = {"storage": storage, "raw_source": RawSourceResource(**SMALL)}
    assert run_range(instance, [raw_transactions, raw_transactions_suite], resources).success
    table = storage.raw_table("transactions")
    bad_day = date(2025, 1, 2)
    rows = table.read(*day_window(bad_day))
    rows.loc[rows.index[0], "amount"] = -5.0  # written behind the pipeline's back: only the check can see it
    table.replace_days(rows, [bad_day])

    rerun = run_range(instance, [raw_transactions, raw_transactions_suite], resources,
                      selection=dg.AssetSelection.checks(raw_transactions_suite))
    assert not rerun.success  # blocking: nothing downstream would run
    status = check_status(instance, raw_transactions_suite)
    assert {k: status[k].latest_execution_status for k in KEYS} == {
        FIRST: Status.SUCCEEDED, "2025-01-02": Status.FAILED, LAST: Status.SUCCEEDED}
    failed = [e for e in rerun.get_asset_check_evaluations() if not e.passed]
    assert [e.partition for e in failed] == ["2025-01-02"]
    assert "amount" in failed[0].description
    assert "rows from: synthetic transactions 2025-01-02" in failed[0].description  # where the rows came from


def test_a_refused_day_is_failed_and_days_committed_before_it_stay_materialized(instance, tmp_path, monkeypatch):
    from fraud_pipelines.raw import ingest

    folder = tmp_path / "landing"
    for day in DAYS:
        write(transactions(day), folder / "transactions" / f"{day}.csv")
        write(labels(day), folder / "fraud_labels" / f"{day}.csv")
    write(GENERATOR.profiles(), folder / "profiles" / "profiles.csv")
    write(GENERATOR.credit_cards(), folder / "credit_cards" / "cards.parquet")
    bad = transactions(DAYS[2])
    bad.loc[bad.index[3], "amount"] = -1.0
    write(bad, folder / "transactions" / f"{DAYS[2]}.csv")
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 1)  # one commit per day, as a long backfill has many
    resources = {"storage": StorageResource(),
                 "raw_source": RawSourceResource(kind="files", landing_dir=str(folder))}
    first, last = DAYS[0].isoformat(), DAYS[2].isoformat()
    result = run_range(instance, [raw_transactions], resources, first=first, last=last)
    assert not result.success
    keys = [d.isoformat() for d in DAYS[:3]]
    status = instance.get_status_by_partition(raw_transactions.key, keys, DAILY)
    assert status == {keys[0]: dg.AssetPartitionStatus.MATERIALIZED, keys[1]: dg.AssetPartitionStatus.MATERIALIZED,
                      keys[2]: dg.AssetPartitionStatus.FAILED}
    stored = StorageResource().raw_table("transactions")
    for key in keys[:2]:
        assert latest_metadata(instance, raw_transactions.key, key)["dagster/row_count"] == len(
            stored.read(*day_window(date.fromisoformat(key))))
    assert DAYS[1] - DAYS[0] == timedelta(days=1)


@pytest.mark.parametrize("in_order", [True, False])
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", None])
def test_split_by_day_gives_each_day_its_rows_in_their_order(in_order, zone):
    """Each day's rows, as a boolean mask per UTC day would select them (order, index labels, every column),
    whether the rows come in time order or not, with missing times and rows outside the days asked."""
    import numpy as np
    import pandas as pd

    from fraud_pipelines.per_day import split_by_day

    rng = np.random.default_rng(4)
    times = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(-86_400, 5 * 86_400, 3_000), "s")
    times = times.sort_values() if in_order else times
    times = times.tz_convert(zone) if zone else times.tz_localize(None)
    frame = pd.DataFrame({"datetime": times, "amount": rng.random(3_000),
                          "reasons": pd.array([f"r{i}" for i in range(3_000)], dtype="string[pyarrow]")},
                         index=rng.permutation(3_000) + 10)
    if not in_order:
        frame.loc[frame.index[::97], "datetime"] = pd.NaT
    days = [date(2025, 1, 1) + timedelta(days=k) for k in range(4)] + [date(2025, 2, 1)]
    split = split_by_day(frame, "datetime", days)
    utc_days = pd.to_datetime(frame["datetime"], utc=True).dt.strftime("%Y-%m-%d")
    assert list(split) == days
    for day, rows in split.items():
        expected = frame[utc_days == day.isoformat()]
        pd.testing.assert_frame_equal(rows, expected)
    assert sum(len(rows) for rows in split.values()) == int(utc_days.isin([d.isoformat() for d in days]).sum())
    assert len(split[date(2025, 2, 1)]) == 0
