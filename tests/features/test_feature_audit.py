"""Write-audit-publish on the feature groups, in real Dagster runs on real Delta tables: a row that
fails a group's suite is refused before the commit (no new Delta version, nothing online, nothing
downstream), and a multi-chunk backfill says what it had committed before the refused chunk."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from fraud_pipelines.features import groups, writes
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.partitions import DAILY
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.tables import day_window

SMALL = dict(n_cards=300, transactions_per_day=200, horizon_days=10, seed=5, fraud_rate=0.02)
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
SPECS = (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS)


def resources():
    return {"storage": StorageResource(), "raw_source": RawSourceResource(**SMALL)}


def materialize(assets, *, instance, partition_key=None, partition_range=None):
    tags = {}
    if partition_range:
        tags = {"dagster/asset_partition_range_start": partition_range[0],
                "dagster/asset_partition_range_end": partition_range[1]}
    return dg.materialize(assets, partition_key=partition_key, tags=tags, resources=resources(),
                          instance=instance, raise_on_error=False)


def spoil(table: str, day: str, column: str, value) -> int:
    """Rewrite one stored raw day with `value` in `column` of one row; returns that row's tid."""
    raw = StorageResource().raw_table(table)
    start, end = day_window(pd.Timestamp(day).date())
    frame = raw.read(start, end)
    frame.loc[frame.index[7], column] = value
    raw.replace_days(frame, [start.date()])
    return int(frame.loc[frame.index[7], "tid"])


def state() -> dict[str, tuple[int | None, pd.DataFrame | None]]:
    """Each feature group's Delta version and content (None when it has no table yet)."""
    fs = StorageResource().feature_store()
    out = {}
    for spec in SPECS:
        fg = spec.get_or_create(fs)
        try:
            out[spec.name] = (fg.delta_version(), fg.read().sort_values("tid").reset_index(drop=True))
        except Exception:  # noqa: BLE001 -- NotFoundError: never written
            out[spec.name] = (None, None)
    return out


def failure_message(result, asset: str) -> str:
    failures = [e for e in result.get_step_failure_events() if e.step_key == asset]
    assert failures, f"{asset} did not fail"
    error = failures[0].event_specific_data.error
    while error.cause is not None:  # Dagster wraps the asset's own exception
        error = error.cause
    return error.message


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def assert_same(before, after) -> None:
    assert before.keys() == after.keys()
    for name, (version, content) in before.items():
        assert after[name][0] == version, name
        if content is None:
            assert after[name][1] is None, name
        else:
            pd.testing.assert_frame_equal(after[name][1], content, check_exact=True)


def test_a_bad_charge_is_refused_before_any_commit_and_nothing_downstream_runs():
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance=instance, partition_range=(DAYS[0], DAYS[-1])).success
    assert materialize([*FEATURE_ASSETS, *FEATURE_CHECKS], instance=instance,
                       partition_range=(DAYS[0], DAYS[1])).success
    before = state()
    assert all(version is not None for version, _ in before.values())
    bad_tid = spoil("transactions", DAYS[2], "amount", -42.5)

    result = materialize([*FEATURE_ASSETS[:2], *FEATURE_CHECKS[:2]], instance=instance, partition_key=DAYS[2])
    assert not result.success
    message = failure_message(result, "transactions_fg")
    assert "feature group transactions v1" in message and DAYS[2] in message
    assert "column 'amount'" in message and "expect_column_values_to_be_between(min_value=0" in message
    assert "-42.5" in message and str(bad_tid) in message
    assert "Nothing was committed" in message and len(message) <= writes.MAX_MESSAGE
    assert materialized(result) == set()  # transactions_4h_aggs (downstream) never ran
    assert_same(before, state())


def test_a_bad_label_is_refused_on_a_fresh_store_and_leaves_no_table():
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance=instance, partition_key=DAYS[0]).success
    spoil("fraud_labels", DAYS[0], "is_fraud", 7)

    result = materialize(FEATURE_ASSETS, instance=instance, partition_key=DAYS[0])
    message = failure_message(result, "fraud_labels_fg")
    assert "feature group fraud_labels v1" in message and "column 'is_fraud'" in message and "7" in message
    labels = groups.FRAUD_LABELS.get_or_create(StorageResource().feature_store())
    with pytest.raises(Exception, match="no data yet"):
        labels.delta_version()


def test_an_oversized_value_gives_a_bounded_message():
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance=instance, partition_key=DAYS[0]).success
    raw = StorageResource().raw_table("profiles")
    profiles = raw.read()
    profiles["sex"] = "X" * 1_000_000  # every charge gets an owner of an unknown sex, 1 MB long
    raw.replace_all(profiles)

    result = materialize(FEATURE_ASSETS[:1], instance=instance, partition_key=DAYS[0])
    message = failure_message(result, "transactions_fg")
    assert "column 'sex'" in message and "XXXX" in message and len(message) <= writes.MAX_MESSAGE
    assert state()["transactions"] == (None, None)


def test_a_backfill_refused_in_its_last_chunk_names_what_it_committed(monkeypatch):
    monkeypatch.setattr(writes, "CHUNK_DAYS", 1)  # three one-day chunks, one commit each
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance=instance, partition_range=(DAYS[0], DAYS[-1])).success
    bad_tid = spoil("transactions", DAYS[2], "amount", -1.0)

    result = materialize(FEATURE_ASSETS[:1], instance=instance, partition_range=(DAYS[0], DAYS[-1]))
    message = failure_message(result, "transactions_fg")
    assert "refused" in message and DAYS[2] in message
    assert f"{DAYS[0]}..{DAYS[1]} as Delta versions 0..1" in message
    fg = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store())
    assert fg.delta_version() == 1
    stored_days = set(fg.read()["datetime"].dt.strftime("%Y-%m-%d"))
    assert stored_days == {DAYS[0], DAYS[1]}
    assert bad_tid not in set(fg.read()["tid"])
    # The UI tells the same: the committed days materialized (with their own rows), the refused one failed.
    status = instance.get_status_by_partition(dg.AssetKey("transactions_fg"), list(DAYS), DAILY)
    assert status == {DAYS[0]: dg.AssetPartitionStatus.MATERIALIZED, DAYS[1]: dg.AssetPartitionStatus.MATERIALIZED,
                      DAYS[2]: dg.AssetPartitionStatus.FAILED}
    for day in DAYS[:2]:
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("transactions_fg"), asset_partitions=[day]), limit=1).records
        rows = int((fg.read()["datetime"].dt.strftime("%Y-%m-%d") == day).sum())
        assert record.asset_materialization.metadata["dagster/row_count"].value == rows

    # Fixed input, same range again: every day replaced once, nothing duplicated.
    spoil("transactions", DAYS[2], "amount", 12.0)
    assert materialize(FEATURE_ASSETS[:1], instance=instance, partition_range=(DAYS[0], DAYS[-1])).success
    stored = fg.read()
    assert set(stored["datetime"].dt.strftime("%Y-%m-%d")) == set(DAYS) and stored["tid"].is_unique
