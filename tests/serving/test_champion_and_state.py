"""The champion holder keeps serving when a new champion cannot be loaded, and the card-state
asset writes the same rows day by day as in one backfill run, online as the latest per card."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from feature_logic.card_state import decode_charges
from fraud_pipelines.serving.card_states import CardStateStore, recent_charges_as_of
from fraud_pipelines.serving.champion import ChampionHolder
from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES
from fraud_pipelines.serving.schemas import Transaction
from fraud_pipelines.serving.scorer import FraudScorer

from .conftest import EVERYTHING, SMALL

DAYS = ["2025-01-08", "2025-01-09", "2025-01-10"]


def test_a_champion_that_cannot_be_served_leaves_the_current_one_in_place(home):
    mlflow, fs = home.mlflow, home.storage.feature_store()
    holder = ChampionHolder(mlflow, fs, poll_seconds=60)
    assert holder.refresh() and holder.current.version == "1" and holder.last_error is None
    client = mlflow.client()
    first = client.get_model_version(mlflow.registered_model_name, "1")
    untagged = client.create_model_version(mlflow.registered_model_name, source=first.source, run_id=first.run_id)
    mlflow.set_champion(untagged.version)

    assert not holder.refresh()
    assert holder.current.version == "1"
    assert "training_dataset_version" in holder.last_error and f"v{untagged.version}" in holder.last_error
    mlflow.set_champion("1")
    assert not holder.refresh() and holder.last_error is None


def test_scoring_an_unknown_card_changes_nothing_even_with_a_tid(home):
    fs = home.storage.feature_store()
    holder = ChampionHolder(home.mlflow, fs)
    holder.refresh()
    states = CardStateStore(fs)
    charge = Transaction(cc_num=77, datetime=datetime(2025, 2, 1, tzinfo=timezone.utc), amount=5.0,
                         category="Other", latitude=0.0, longitude=0.0, tid=123)
    scored = FraudScorer(states).score(holder.current, [charge, charge], include_features=False)
    assert [s["card_status"] for s in scored] == ["unknown", "known"]  # the batch's own memory...
    assert charge.cc_num != 77  # the card number became its token while the request was parsed
    assert states.get(charge.cc_num).known is False  # ...is never stored


def test_daily_runs_rewrite_the_backfill_rows_and_the_online_rows_are_the_latest(home):
    fs = home.storage.feature_store()
    fg = CARD_RECENT_CHARGES.get_or_create(fs)
    start, end = pd.Timestamp(DAYS[0], tz="UTC"), pd.Timestamp(DAYS[-1], tz="UTC") + pd.Timedelta(days=1)
    backfilled = fg.read(start, end)
    version = fg.delta_version()
    with dg.instance_for_test() as instance:
        for day in DAYS:
            result = dg.materialize(
                EVERYTHING, instance=instance, partition_key=day, selection=[dg.AssetKey("card_recent_charges_fg")],
                resources={"storage": home.storage, "raw_source": SMALL, "mlflow": home.mlflow})
            assert result.success
    assert fg.delta_version() == version + len(DAYS)  # each day replaced its rows...
    pd.testing.assert_frame_equal(fg.read(start, end), backfilled)  # ...with the same rows
    assert len(backfilled) > 0

    cards = backfilled.sort_values("datetime")["cc_num"].drop_duplicates(keep="last").tail(5).tolist()
    states = CardStateStore(fs)
    rebuilt = recent_charges_as_of(fs, end.to_pydatetime(), cards).set_index("cc_num")
    for card in cards:
        online = states.get(card)
        assert online.known and online.has_versions
        assert online.charges == decode_charges(rebuilt.at[card, "charges"])
    latest = [decode_charges(text)[-1].micros for text in backfilled["charges"]]
    assert latest == backfilled["datetime"].dt.as_unit("us").astype("int64").tolist()  # event time = latest charge
