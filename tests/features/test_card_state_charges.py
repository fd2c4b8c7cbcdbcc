"""`card_recent_charges_fg` reads the charges its previous run carried instead of an as-of over all
history: daily runs write the same card states as one run over the range (which reads as of the
range's start), the stored rows are used when their stamp is the day's build, and ignored otherwise."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd

from feature_logic.card_state import charges_before
from fraud_pipelines.features import day_lineage, groups, last_charges
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.serving import groups as serving_groups
from fraud_pipelines.serving.assets import card_recent_charges_fg
from fraud_pipelines.tables import day_window

# 800 cards and 200 charges a day: most cards stay idle for days, far beyond the 4-hour window
SPARSE = dict(n_cards=800, transactions_per_day=200, horizon_days=6, seed=5, fraud_rate=0.01)
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
ASSETS = [*RAW_ASSETS, *FEATURE_ASSETS, card_recent_charges_fg]


def run(**partition) -> None:
    result = dg.materialize(ASSETS, raise_on_error=False, **partition,
                            resources={"storage": StorageResource(), "raw_source": RawSourceResource(**SPARSE)})
    assert result.success


def states() -> pd.DataFrame:
    fg = serving_groups.CARD_RECENT_CHARGES.get_or_create(StorageResource().feature_store())
    return fg.read().sort_values(["datetime", "cc_num"]).reset_index(drop=True)


def stamp_of(day: str) -> int:
    builds = day_lineage.lineage_of(StorageResource()).builds(day_lineage.TRANSACTIONS)
    return builds[date.fromisoformat(day)].stamp


def test_daily_runs_from_carried_charges_equal_one_run_reading_all_history(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "range"))
    run(tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]})
    whole = states()

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "daily"))
    for day in DAYS:
        run(partition_key=day)
        storage = StorageResource()
        stored = last_charges.state_charges_of(storage).read(date.fromisoformat(day), str(stamp_of(day)))
        every = groups.TRANSACTIONS.get_or_create(storage.feature_store()).read()
        expected = charges_before(every, end=day_window(date.fromisoformat(day))[1])
        assert stored is not None and len(stored) == len(expected) > 0
        key = ["cc_num", "datetime", "tid"]
        pd.testing.assert_frame_equal(stored.sort_values(key).reset_index(drop=True),
                                      expected.sort_values(key).reset_index(drop=True), check_exact=True)
    daily = states()
    assert len(daily) > 300 and daily["datetime"].dt.date.nunique() == len(DAYS)
    pd.testing.assert_frame_equal(daily, whole, check_exact=True)


def test_the_next_day_reads_the_carried_charges_only_for_the_build_the_lineage_records(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path))
    for day in DAYS[:3]:
        run(partition_key=day)
    clean = states()
    storage = StorageResource()
    carried = last_charges.state_charges_of(storage)
    third = date.fromisoformat(DAYS[2])
    stamp = stamp_of(DAYS[2])
    moved = carried.read(third, str(stamp))
    moved["amount"] = moved["amount"] + 1.0  # rows that differ from what all history gives

    carried.write(third, stamp + 1, moved)  # stored for another build of the day: ignored
    run(partition_key=DAYS[3])
    reference = states()
    pd.testing.assert_frame_equal(reference[reference["datetime"] < "2025-01-04"], clean, check_exact=True)

    carried.write(third, stamp, moved)  # stored for the build the lineage records: used
    run(partition_key=DAYS[3])
    used = states()
    assert (used["charges"] != reference["charges"]).any()
    pd.testing.assert_frame_equal(used[used["datetime"] < "2025-01-04"], clean, check_exact=True)
