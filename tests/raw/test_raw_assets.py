"""Real Dagster runs of the raw assets on real Delta tables under a temporary FRAUD_HOME."""

from __future__ import annotations

from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd
import pytest

from fraud_pipelines.raw.assets import RAW_ASSETS, raw_transactions
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import RawSourceResource, StorageResource

SMALL = dict(n_cards=40, transactions_per_day=300, horizon_days=10, seed=7)


def run(assets, *, resources, partition_key=None, partition_range=None, raise_on_error=True):
    tags = {}
    if partition_range:
        tags = {"dagster/asset_partition_range_start": partition_range[0],
                "dagster/asset_partition_range_end": partition_range[1]}
    return dg.materialize(assets, partition_key=partition_key, tags=tags, resources=resources,
                          raise_on_error=raise_on_error, instance=dg.DagsterInstance.ephemeral())


def synthetic_resources():
    return {"storage": StorageResource(), "raw_source": RawSourceResource(**SMALL)}


def window(day: str):
    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    return start, start + pd.Timedelta(days=1)


def test_backfill_is_one_run_and_checks_pass():
    result = run([*RAW_ASSETS, *RAW_CHECKS], resources=synthetic_resources(),
                 partition_range=("2025-01-01", "2025-01-03"))
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {c.check_key.name for c in RAW_CHECKS}
    assert all(e.passed for e in evaluations)
    table = StorageResource().raw_table("transactions")
    assert table.days() == ["2025-01-01", "2025-01-02", "2025-01-03"]
    frame = table.read()
    assert frame["tid"].is_unique and len(frame) > 500
    labels = StorageResource().raw_table("fraud_labels").read()
    assert set(labels["tid"]) == set(frame["tid"])


def test_a_day_alone_equals_that_day_inside_a_range(tmp_path, monkeypatch):
    run([raw_transactions], resources=synthetic_resources(), partition_range=("2025-01-01", "2025-01-03"))
    in_range = StorageResource().raw_table("transactions").read(*window("2025-01-02"))
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "other_home"))
    run([raw_transactions], resources=synthetic_resources(), partition_key="2025-01-02")
    alone = StorageResource().raw_table("transactions").read(*window("2025-01-02"))
    assert len(alone) > 0
    pd.testing.assert_frame_equal(alone, in_range)


def test_rerunning_a_day_replaces_exactly_that_day():
    table = StorageResource().raw_table("transactions")
    run([raw_transactions], resources=synthetic_resources(), partition_range=("2025-01-01", "2025-01-03"))
    before = table.read()
    version = table.version()
    run([raw_transactions], resources=synthetic_resources(), partition_key="2025-01-02")
    run([raw_transactions], resources=synthetic_resources(), partition_key="2025-01-02")
    after = table.read()
    assert table.version() == version + 2
    pd.testing.assert_frame_equal(after, before)
    assert table.count() == len(before)


# --- user files ---------------------------------------------------------------------------

def landing_with_good_files(folder, days=("2025-01-01", "2025-01-02")):
    """Synthetic rows written as the user's CSV files, one file per day."""
    from feature_logic.synthetic import SyntheticConfig, generate_day

    config = SyntheticConfig(seed=3, n_cards=20, transactions_per_day=100, n_days=5, start_date=date(2025, 1, 1))
    (folder / "transactions").mkdir(parents=True)
    for day in days:
        tx = generate_day(config, date.fromisoformat(day)).transactions
        tx.to_csv(folder / "transactions" / f"{day}.csv", index=False)
    return folder


def files_resources(folder):
    return {"storage": StorageResource(), "raw_source": RawSourceResource(kind="files", landing_dir=str(folder))}


def test_user_files_land_in_their_partitions(tmp_path):
    folder = landing_with_good_files(tmp_path / "landing")
    result = run([raw_transactions, *RAW_CHECKS[:1]], resources=files_resources(folder),
                 partition_range=("2025-01-01", "2025-01-02"))
    assert result.success
    landed = StorageResource().raw_table("transactions").read()
    expected = pd.concat([pd.read_csv(folder / "transactions" / f"2025-01-0{d}.csv") for d in (1, 2)])
    assert sorted(landed["tid"]) == sorted(expected["tid"])


@pytest.mark.parametrize(
    "damage, words",
    [
        (
            lambda df: df.rename(columns={"amount": "amt"}),
            ["missing column(s) ['amount']", "unexpected column(s) ['amt']"],
        ),
        (
            lambda df: df.assign(amount=df["amount"].astype(object).where(df.index != 3, "12,50 EUR")),
            ["column 'amount'", "double", "12,50 EUR"],
        ),
        (
            lambda df: df.assign(datetime=df["datetime"].astype(str).where(df.index != 1, "yesterday")),
            ["column 'datetime'", "timestamp", "yesterday"],
        ),
        (
            lambda df: df.assign(tid=df["tid"].astype(object).where(df.index != 2, "12.5")),
            ["column 'tid'", "int64", "12.5"],
        ),
    ],
    ids=["renamed column", "text in amount", "unparseable time", "fractional tid"],
)
def test_bad_user_files_are_refused_and_nothing_changes(tmp_path, damage, words):
    folder = landing_with_good_files(tmp_path / "landing")
    resources = files_resources(folder)
    run([raw_transactions], resources=resources, partition_range=("2025-01-01", "2025-01-02"))
    table = StorageResource().raw_table("transactions")
    before, version = table.read(), table.version()

    path = folder / "transactions" / "2025-01-02.csv"
    damage(pd.read_csv(path)).to_csv(path, index=False)
    result = run([raw_transactions], resources=resources, partition_key="2025-01-02", raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = (
        failure.event_specific_data.error.cause.message if failure.event_specific_data.error.cause else failure.message
    )
    text = str(failure.event_specific_data.error.to_string())
    assert str(path) in text, text
    for word in words:
        assert word in text, text
    assert table.version() == version
    pd.testing.assert_frame_equal(table.read(), before)
    assert message
