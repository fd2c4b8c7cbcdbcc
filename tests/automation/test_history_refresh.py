"""The owner and card histories are refreshed by every daily run: an owner's move landed on day N
changes `lives_city` from day N on in the features, and reaches the service's card versions."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd

from feature_logic.card_state import decode_versions
from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator
from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import transactions_fg
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.raw.assets import raw_credit_cards, raw_profiles, raw_transactions
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.serving import groups as serving_groups
from fraud_pipelines.serving.assets import card_versions_fg

CONFIG = SyntheticConfig(seed=23, n_cards=200, transactions_per_day=600, n_days=10, start_date=date(2025, 1, 1))
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
MOVE = pd.Timestamp("2025-01-03", tz="UTC")
DAILY_PART = [raw_transactions, raw_profiles, raw_credit_cards, transactions_fg, card_versions_fg]


def landing(folder):
    generator = SyntheticGenerator(CONFIG)
    for table in ("transactions", "profiles", "credit_cards"):
        (folder / table).mkdir(parents=True)
    charges = []
    for day in DAYS:
        frame = generator.day(date.fromisoformat(day)).transactions
        frame.to_parquet(folder / "transactions" / f"{day}.parquet", index=False)
        charges.append(frame)
    profiles = generator.profiles(until=DAYS[-1])
    profiles.to_parquet(folder / "profiles" / "profiles.parquet", index=False)
    generator.credit_cards(until=DAYS[-1]).to_parquet(folder / "credit_cards" / "cards.parquet", index=False)
    return pd.concat(charges, ignore_index=True), profiles


def a_card_to_move(charges: pd.DataFrame, profiles: pd.DataFrame) -> tuple[int, pd.Series, str]:
    """A card charged on days 2 and 3 whose owner has no version of their own on day 3, and a new city."""
    day2 = set(charges.loc[charges["datetime"].dt.date == date(2025, 1, 2), "cc_num"])
    day3 = set(charges.loc[charges["datetime"].dt.date == date(2025, 1, 3), "cc_num"])
    own = set(profiles.loc[profiles["event_time"] >= pd.Timestamp("2025-01-02", tz="UTC"), "cc_num"])
    card = sorted((day2 & day3) - own)[0]
    latest = profiles[profiles["cc_num"] == card].sort_values("event_time").iloc[-1]
    city = sorted(set(profiles["city"]) - {latest["city"]})[0]
    return card, latest, city


def versions_online(card: int) -> tuple:
    fs = StorageResource().feature_store()
    table = serving_groups.CARD_VERSIONS.get_or_create(fs).online_table()
    row = fs.online_store.lookup(table, ["profile_versions"])((card,))
    return decode_versions(row[0]) if row else ()


def test_daily_job_refreshes_the_histories_before_the_features():
    from fraud_pipelines.definitions import defs

    job = defs.resolve_job_def("daily_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"raw_profiles", "raw_credit_cards", "card_versions_fg"} <= keys
    graph = defs.resolve_asset_graph()
    assert {dg.AssetKey("raw_profiles"), dg.AssetKey("raw_credit_cards")} <= graph.get(
        dg.AssetKey("transactions_fg")).parent_keys


def test_a_move_landed_on_day_n_changes_lives_city_from_day_n_on(tmp_path):
    folder = tmp_path / "landing"
    charges, profiles = landing(folder)
    card, latest, city = a_card_to_move(charges, profiles)
    resources = {"storage": StorageResource(), "raw_source": RawSourceResource(kind="files", landing_dir=str(folder))}
    instance = dg.DagsterInstance.ephemeral()

    for day in DAYS[:2]:  # the daily runs before the move lands
        assert dg.materialize(DAILY_PART, partition_key=day, resources=resources, instance=instance).success
    assert latest["city"] != city
    assert int(MOVE.value // 1_000) not in [v[0] for v in versions_online(tokenizer().token(card))]

    move = latest.to_frame().T.astype(profiles.dtypes.to_dict())
    move["city"], move["event_time"] = city, MOVE
    move.to_parquet(folder / "profiles" / "move_2025-01-03.parquet", index=False)  # lands on day 3
    assert dg.materialize(DAILY_PART, partition_key=DAYS[2], resources=resources, instance=instance).success

    token = tokenizer().token(card)  # tables and the service know the card by its token only
    features = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store()).read()
    mine = features[features["cc_num"] == token]
    before, after = mine[mine["datetime"] < MOVE], mine[mine["datetime"] >= MOVE]
    assert len(before) and len(after)
    assert set(before["lives_city"]) == {latest["city"]}
    assert set(after["lives_city"]) == {city}
    # The service's card state now holds the move as the owner's latest version.
    assert versions_online(token)[-1][0] == int(MOVE.value // 1_000)
