"""The state a `transactions_fg` run carries to the next day (each card's last charge) equals the as-of
read over all history; the next daily run uses it, and ignores one stored for another build of the day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from feature_logic.transactions import PREVIOUS_COLUMNS
from fraud_pipelines.features import day_lineage, groups, last_charges
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource

SPARSE = dict(n_cards=800, transactions_per_day=200, horizon_days=6, seed=5, fraud_rate=0.01)
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]


def run(day: str) -> None:
    result = dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS], partition_key=day, raise_on_error=False,
                            resources={"storage": StorageResource(), "raw_source": RawSourceResource(**SPARSE)})
    assert result.success


def by_card(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[list(PREVIOUS_COLUMNS)].sort_values("cc_num").reset_index(drop=True)


def stored_state(day: str) -> pd.DataFrame | None:
    storage = StorageResource()
    stamp = day_lineage.lineage_of(storage).builds(day_lineage.TRANSACTIONS)[date.fromisoformat(day)].stamp
    return last_charges.last_charges_of(storage).read(date.fromisoformat(day), str(stamp))


def transactions() -> pd.DataFrame:
    fg = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store())
    return fg.read().sort_values("tid").reset_index(drop=True)


def test_each_daily_run_stores_the_state_the_as_of_read_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path))
    fg = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store())
    for day in DAYS:
        run(day)
        end = datetime.fromisoformat(day).replace(tzinfo=timezone.utc) + timedelta(days=1)
        expected = fg.as_of(end - timedelta(microseconds=1), by=["cc_num"], columns=list(PREVIOUS_COLUMNS))
        state = stored_state(day)
        assert state is not None and len(state) == len(expected) > 0
        pd.testing.assert_frame_equal(by_card(state), by_card(expected), check_exact=True)
    # a state asked for with another build's stamp is not used
    storage = StorageResource()
    assert last_charges.last_charges_of(storage).read(date.fromisoformat(DAYS[-1]), "-1") is None


def test_the_next_day_reads_the_stored_state_and_falls_back_when_its_stamp_differs(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "clean"))
    for day in DAYS:
        run(day)
    clean = transactions()

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "moved"))
    for day in DAYS[:2]:
        run(day)
    storage = StorageResource()
    states = last_charges.last_charges_of(storage)
    second = date.fromisoformat(DAYS[1])
    stamp = day_lineage.lineage_of(storage).builds(day_lineage.TRANSACTIONS)[second].stamp
    moved = stored_state(DAYS[1])
    moved["latitude"] = moved["latitude"] + 1.0  # a state that differs from the as-of read
    states.write(second, stamp + 1, moved)  # stored for another build of the day: ignored
    run(DAYS[2])
    pd.testing.assert_frame_equal(transactions(), clean, check_exact=True)

    states.write(second, stamp, moved)  # stored for the build the lineage records: used
    run(DAYS[2])
    rebuilt = transactions()
    third = rebuilt["datetime"] >= datetime(2025, 1, 3, tzinfo=timezone.utc)
    changed = (rebuilt["loc_delta_t_minus_1"] != clean["loc_delta_t_minus_1"]) & third
    assert changed.any()
    assert not ((rebuilt["loc_delta_t_minus_1"] != clean["loc_delta_t_minus_1"]) & ~third).any()
