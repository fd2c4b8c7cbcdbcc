"""Tests of the synthetic generator: determinism per day (any day from the start on), the raw
table contract, entity histories cut at any day, where and when charges happen, and injected
fraud visible in window features."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from feature_logic import schema
from feature_logic.synthetic import (
    CHAIN_ATTACK,
    IMPOSSIBLE_TRAVEL,
    DayData,
    SyntheticConfig,
    SyntheticGenerator,
    generate_credit_cards,
    generate_day,
    generate_days,
    generate_fraud_labels,
    generate_profiles,
    generate_transactions,
)
from feature_logic.synthetic_reference import CITIES, haversine_km

CONFIG = SyntheticConfig(
    seed=7, start_date=dt.date(2025, 3, 1), n_days=20, n_cards=2_000, transactions_per_day=3_000,
    move_share=0.2, reissue_share=0.1,
)  # fmt: skip
CITY = pd.DataFrame(CITIES, columns=["city", "country", "city_lat", "city_lon", "utc_offset_h"])
# A year of a smaller world whose owners move and cards are reissued in each 30-day period.
YEAR = SyntheticConfig(
    seed=3, start_date=dt.date(2025, 1, 1), n_days=30, n_cards=1_000, transactions_per_day=600,
    move_share=0.2, reissue_share=0.1,
)  # fmt: skip


@pytest.fixture(scope="module")
def generator() -> SyntheticGenerator:
    return SyntheticGenerator(CONFIG)


@pytest.fixture(scope="module")
def days(generator: SyntheticGenerator) -> list[DayData]:
    return list(generator.days())


@pytest.fixture(scope="module")
def charges(days: list[DayData]) -> pd.DataFrame:
    """All transactions with their label, injected pattern and per-card previous charge."""
    tx = pd.concat([d.transactions for d in days], ignore_index=True)
    labels = pd.concat([d.fraud_labels for d in days], ignore_index=True)
    injected = pd.concat([d.injected_frauds for d in days], ignore_index=True)
    tx = tx.merge(labels[["tid", "is_fraud", "label_time"]], on="tid", validate="1:1")
    tx = tx.merge(injected[["tid", "pattern", "incident"]], on="tid", how="left", validate="1:1")
    tx["pattern"] = tx["pattern"].fillna("genuine")
    tx = tx.sort_values(["cc_num", "datetime", "tid"], ignore_index=True)
    by_card = tx.groupby("cc_num")
    tx["seconds_since_prev"] = (tx["datetime"] - by_card["datetime"].shift()).dt.total_seconds()
    tx["km_from_prev"] = haversine_km(
        tx["latitude"], tx["longitude"], by_card["latitude"].shift(), by_card["longitude"].shift()
    )
    tx["count_4h"] = (
        tx.set_index("datetime").groupby("cc_num")["amount"].rolling("4h").count().to_numpy()
    )
    return tx


def _as_of(tx: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Each transaction joined with its card's latest history row with event_time <= datetime."""
    left = tx.sort_values("datetime")
    right = history.sort_values("event_time")
    return pd.merge_asof(left, right, left_on="datetime", right_on="event_time", by="cc_num")


# --- configuration and days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error", "named"),
    [
        ({"n_cards": 0}, ValueError, "n_cards"),
        ({"fraud_rate": 0.5}, ValueError, "fraud_rate"),
        ({"n_days": 10_000}, ValueError, "n_days"),
        ({"seed": -1}, ValueError, "seed"),
        ({"transactions_per_day": 2.5}, TypeError, "transactions_per_day"),
        ({"start_date": dt.datetime(2025, 1, 1)}, TypeError, "start_date"),
        ({"label_noise": True}, TypeError, "label_noise"),
    ],
)
def test_config_refuses_bad_settings_by_name(settings: dict, error: type, named: str) -> None:
    with pytest.raises(error, match=named):
        SyntheticConfig(**settings)


def test_days_before_the_start_too_far_after_it_or_malformed_are_refused(generator: SyntheticGenerator) -> None:
    before = r"2025-02-28 is before the synthetic data's first day \(SyntheticConfig.start_date=2025-03-01\)"
    with pytest.raises(ValueError, match=before):
        generator.day(dt.date(2025, 2, 28))
    with pytest.raises(ValueError, match=before):
        generator.profiles(until="2025-02-28")
    with pytest.raises(ValueError, match="2125-03-01 is after the synthetic data's last day 2125-02-05"):
        generator.day("2125-03-01")
    with pytest.raises(ValueError, match="not an ISO date"):
        generator.day("March 3rd")
    with pytest.raises(TypeError, match="must be a date"):
        generator.day(dt.datetime(2025, 3, 2))
    with pytest.raises(ValueError, match="first day 2025-03-05 is after last day 2025-03-04"):
        list(generator.days("2025-03-05", "2025-03-04"))


# --- determinism ------------------------------------------------------------------------------


def test_same_config_gives_identical_frames(generator: SyntheticGenerator, days: list[DayData]) -> None:
    again = SyntheticGenerator(CONFIG)
    pd.testing.assert_frame_equal(again.credit_cards(), generator.credit_cards())
    pd.testing.assert_frame_equal(again.profiles(), generator.profiles())
    day = again.day(days[3].day)
    pd.testing.assert_frame_equal(day.transactions, days[3].transactions)
    pd.testing.assert_frame_equal(day.fraud_labels, days[3].fraud_labels)
    pd.testing.assert_frame_equal(day.injected_frauds, days[3].injected_frauds)


def test_another_seed_gives_other_data(days: list[DayData]) -> None:
    other = generate_day(replace(CONFIG, seed=8), days[0].day)
    assert not other.transactions["cc_num"].isin(days[0].transactions["cc_num"]).any()


def test_a_day_alone_equals_the_same_day_inside_any_range(days: list[DayData]) -> None:
    day = days[5].day
    alone = generate_day(CONFIG, day)
    short_range = list(generate_days(CONFIG, day - dt.timedelta(days=1), day.isoformat()))
    assert [d.day for d in short_range] == [day - dt.timedelta(days=1), day]
    for other in (days[5], short_range[-1]):
        pd.testing.assert_frame_equal(alone.transactions, other.transactions)
        pd.testing.assert_frame_equal(alone.fraud_labels, other.fraud_labels)
    pd.testing.assert_frame_equal(generate_transactions(CONFIG, day), alone.transactions)
    pd.testing.assert_frame_equal(generate_fraud_labels(CONFIG, day), alone.fraud_labels)


def _digest(frame: pd.DataFrame) -> str:
    """A short hash of a frame's columns, dtypes and values."""
    digest = hashlib.sha256(repr(list(zip(frame.columns, map(str, frame.dtypes)))).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def test_the_demo_data_of_the_first_90_days_is_pinned() -> None:
    """The demo's settings (the raw source's defaults): days and histories of its first 90 days are
    bit for bit those of the generator whose metrics the README quotes."""
    config = SyntheticConfig(seed=42, n_days=90, n_cards=5_000, transactions_per_day=10_000, fraud_rate=0.005)
    generator = SyntheticGenerator(config)
    changed = "the demo's synthetic data changed: the README's metrics no longer describe it"
    assert _digest(generator.profiles()) == "3338c249e2be9d23", changed
    assert _digest(generator.credit_cards()) == "ad2385632b7af770", changed
    day = generator.day("2025-02-15")
    assert (_digest(day.transactions), _digest(day.fraud_labels)) == ("a1daff22f134afe0", "d1898bbdd61e1daa"), changed
    assert _digest(generator.day("2025-03-31").transactions) == "ea6d86397d643c6b", changed


def test_first_day_is_pinned_so_tids_stay_stable_across_releases() -> None:
    tx = generate_day(SyntheticConfig(n_cards=100, transactions_per_day=50), "2025-01-01").transactions
    changed = "the generator's random draws changed: stored tids would now name other charges"
    assert len(tx) == 57, changed
    assert tx["tid"].iloc[[0, -1]].tolist() == [20250101000000000, 20250101000000056], changed
    assert tx["cc_num"].iloc[:3].tolist() == [4818339213325877, 4526928894937498, 5584331791442587], changed
    assert tx["amount"].iloc[:3].tolist() == pytest.approx([29.67, 7.37, 27.76], abs=0.011), changed


# --- raw table contract -----------------------------------------------------------------------


def test_every_table_converts_exactly_to_its_schema(
    generator: SyntheticGenerator, days: list[DayData]
) -> None:
    frames = {
        "transactions": days[0].transactions,
        "fraud_labels": days[0].fraud_labels,
        "profiles": generator.profiles(),
        "credit_cards": generator.credit_cards(),
    }
    for name, frame in frames.items():
        expected = schema.RAW_SCHEMAS[name]
        assert list(frame.columns) == expected.names, name
        table = pa.Table.from_pandas(frame, schema=expected, preserve_index=False)
        assert table.schema.remove_metadata().equals(expected), name
        assert frame.notna().all().all(), f"{name} has missing values"
    assert str(days[0].transactions["datetime"].dtype) == "datetime64[us, UTC]"


def test_tids_are_unique_encode_their_day_and_follow_time(days: list[DayData]) -> None:
    tids = np.concatenate([d.transactions["tid"].to_numpy() for d in days])
    assert len(np.unique(tids)) == len(tids)
    for day in days:
        tx = day.transactions
        assert (tx["tid"] // 1_000_000_000 == int(day.day.strftime("%Y%m%d"))).all()
        assert tx["datetime"].is_monotonic_increasing and tx["tid"].is_monotonic_increasing
        assert (tx["datetime"].dt.date == day.day).all(), "a charge left its UTC day"
        assert (day.fraud_labels["tid"] == tx["tid"]).all()


def test_values_are_in_the_contract(charges: pd.DataFrame) -> None:
    assert set(charges["category"]) == set(schema.CATEGORIES)
    assert charges["amount"].between(0.01, schema.MAX_AMOUNT).all()
    assert charges["latitude"].between(-90, 90).all() and charges["longitude"].between(-180, 180).all()


# --- entities and their histories -------------------------------------------------------------


def test_card_numbers_are_distinct_16_digit_and_luhn_valid(generator: SyntheticGenerator) -> None:
    cards = generator.credit_cards().drop_duplicates("cc_num")
    assert len(cards) == CONFIG.n_cards
    numbers = cards["cc_num"].astype(str)
    assert (numbers.str.len() == 16).all()
    digits = np.array([[int(c) for c in n[::-1]] for n in numbers])
    doubled = digits[:, 1::2] * 2
    assert ((digits[:, 0::2].sum(1) + (doubled // 10 + doubled % 10).sum(1)) % 10 == 0).all()
    assert (numbers[cards["provider"] == "visa"].str[0] == "4").all()
    assert numbers[cards["provider"] == "mastercard"].str[:2].isin(["51", "52", "53", "54", "55"]).all()


def test_some_cards_are_reissued_inside_the_horizon_with_a_later_expiry(
    generator: SyntheticGenerator,
) -> None:
    cards = generator.credit_cards()
    start = pd.Timestamp(CONFIG.start_date, tz="UTC")
    end = pd.Timestamp(CONFIG.end_date, tz="UTC")
    first = cards.groupby("cc_num").nth(0)
    assert (first["event_time"] < start).all(), "first issues predate the horizon"
    reissues = cards[cards.duplicated("cc_num")]
    assert 0.05 * CONFIG.n_cards < len(reissues) < 0.15 * CONFIG.n_cards
    assert reissues["event_time"].between(start, end, inclusive="left").all()
    old = first.set_index("cc_num").loc[reissues["cc_num"]]
    assert (reissues["expires"].to_numpy() > old["expires"].to_numpy()).all()
    assert (pd.to_datetime(cards["expires"]) >= end.tz_localize(None)).all(), "no card expires in the horizon"


def test_cards_expiring_inside_a_long_horizon_are_reissued_in_their_last_month() -> None:
    config = SyntheticConfig(n_cards=1_000, n_days=1_400, reissue_share=0.0)
    cards = generate_credit_cards(config)
    reissues = cards[cards.duplicated("cc_num")]
    assert len(reissues) > 0.5 * config.n_cards
    first_issue = cards.drop_duplicates("cc_num").set_index("cc_num").loc[reissues["cc_num"]]
    old_expiry_end = pd.to_datetime(first_issue["expires"]).to_numpy() + np.timedelta64(1, "D")
    notice = old_expiry_end - reissues["event_time"].dt.tz_localize(None).to_numpy()
    assert (notice > np.timedelta64(0)).all() and (notice <= np.timedelta64(30, "D")).all()
    latest = cards.drop_duplicates("cc_num", keep="last")
    assert (pd.to_datetime(latest["expires"]) >= pd.Timestamp(config.end_date)).all()


def test_some_owners_move_inside_the_horizon_to_another_city(generator: SyntheticGenerator) -> None:
    profiles = generator.profiles()
    start = pd.Timestamp(CONFIG.start_date, tz="UTC")
    end = pd.Timestamp(CONFIG.end_date, tz="UTC")
    moves = profiles[profiles.duplicated("cc_num")]
    assert 0.15 * CONFIG.n_cards < len(moves) < 0.25 * CONFIG.n_cards
    assert moves["event_time"].between(start, end, inclusive="left").all()
    before = profiles.drop_duplicates("cc_num").set_index("cc_num").loc[moves["cc_num"]]
    assert (before["city"].to_numpy() != moves["city"].to_numpy()).all()
    assert (before["name"].to_numpy() == moves["name"].to_numpy()).all(), "a move keeps the owner"
    ages = (start.date() - pd.to_datetime(profiles["birthdate"]).dt.date).map(lambda d: d.days / 365.25)
    assert ages.between(18, 86).all() and set(profiles["sex"]) == {"F", "M"}


def test_generate_functions_match_the_generator(generator: SyntheticGenerator) -> None:
    pd.testing.assert_frame_equal(generate_credit_cards(CONFIG), generator.credit_cards())
    pd.testing.assert_frame_equal(generate_profiles(CONFIG), generator.profiles())
    later = "2025-05-01"
    pd.testing.assert_frame_equal(generate_credit_cards(CONFIG, until=later), generator.credit_cards(until=later))
    pd.testing.assert_frame_equal(generate_profiles(CONFIG, until=later), generator.profiles(until=later))


# --- any range: days and histories past the default range ------------------------------------


@pytest.fixture(scope="module")
def year() -> SyntheticGenerator:
    return SyntheticGenerator(YEAR)


def test_any_later_day_alone_equals_it_inside_a_range_across_periods(year: SyntheticGenerator) -> None:
    day = dt.date(2025, 10, 28)  # day 300: period 10 starts on 2025-10-28
    alone = SyntheticGenerator(YEAR).day(day)  # a fresh generator derives the periods up to it
    in_range = list(year.days("2025-10-26", "2025-10-29"))
    assert [d.day for d in in_range][2] == day
    pd.testing.assert_frame_equal(alone.transactions, in_range[2].transactions)
    pd.testing.assert_frame_equal(alone.fraud_labels, in_range[2].fraud_labels)
    pd.testing.assert_frame_equal(alone.injected_frauds, in_range[2].injected_frauds)
    pd.testing.assert_frame_equal(generate_transactions(YEAR, day), alone.transactions)
    assert (alone.transactions["tid"] // 1_000_000_000 == 20251028).all()
    assert len(alone.transactions) > 300


@pytest.mark.parametrize("table", ["profiles", "credit_cards"])
def test_history_up_to_a_day_is_a_prefix_of_later_history(year: SyntheticGenerator, table: str) -> None:
    def history(until: str) -> pd.DataFrame:
        return getattr(SyntheticGenerator(YEAR), table)(until=until)

    cuts = ["2025-01-15", "2025-01-30", "2025-01-31", "2025-06-15", "2025-12-31"]
    frames = [history(cut) for cut in cuts]
    for cut, frame in zip(cuts, frames):
        end_of_day = pd.Timestamp(cut, tz="UTC") + pd.Timedelta(days=1)
        assert (frame["event_time"] < end_of_day).all(), f"{table} up to {cut} holds a later event"
    for (cut, earlier), later in zip(zip(cuts, frames), frames[1:]):
        end_of_day = pd.Timestamp(cut, tz="UTC") + pd.Timedelta(days=1)
        prefix = later[later["event_time"] < end_of_day].reset_index(drop=True)
        pd.testing.assert_frame_equal(earlier, prefix)
    assert len(frames[-1]) > len(frames[-2]) > len(frames[0]), "events keep coming"
    # A generator that produced days first gives the same history as a fresh one.
    used = SyntheticGenerator(YEAR)
    used.day("2025-12-31")
    used.day("2025-02-01")
    pd.testing.assert_frame_equal(getattr(used, table)(until="2025-06-15"), frames[3])


def test_owners_keep_moving_and_cards_stay_valid_for_a_year(year: SyntheticGenerator) -> None:
    last = dt.date(2025, 12, 31)
    profiles, cards = year.profiles(until=last), year.credit_cards(until=last)
    moves = profiles[profiles.duplicated("cc_num")]
    per_period = ((moves["event_time"] - pd.Timestamp(YEAR.start_date, tz="UTC")).dt.days // YEAR.n_days)
    counts = per_period.value_counts().reindex(range(13), fill_value=0)  # day 364 is in period 12
    assert counts.iloc[:12].between(0.12 * YEAR.n_cards, 0.28 * YEAR.n_cards).all(), counts.tolist()
    consecutive = profiles.groupby("cc_num")["city"].agg(lambda c: (c.to_numpy()[1:] != c.to_numpy()[:-1]).all())
    assert consecutive.all(), "every move changes the city"
    reissues = cards[cards.duplicated("cc_num")]
    late = reissues["event_time"] >= pd.Timestamp("2025-07-01", tz="UTC")
    assert late.sum() > 0.1 * YEAR.n_cards
    expiry = pd.to_datetime(cards["expires"])
    assert (expiry.groupby(cards["cc_num"]).apply(lambda e: e.is_monotonic_increasing)).all()
    valid_then = cards.drop_duplicates("cc_num", keep="last")
    assert (pd.to_datetime(valid_then["expires"]) > pd.Timestamp(last)).all(), "a card expired unrenewed"


def test_late_charges_are_near_the_owner_city_as_of_their_time(year: SyntheticGenerator) -> None:
    days = list(year.days("2025-11-01", "2025-12-31"))
    tx = pd.concat([d.transactions for d in days], ignore_index=True)
    injected = pd.concat([d.injected_frauds for d in days], ignore_index=True)
    local = tx[~tx["tid"].isin(injected.loc[injected["pattern"] == IMPOSSIBLE_TRAVEL, "tid"])]
    profiles = year.profiles(until="2025-12-31")
    joined = _as_of(local, profiles).merge(CITY[["city", "city_lat", "city_lon"]], on="city")
    assert len(joined) == len(local)
    km = haversine_km(joined["latitude"], joined["longitude"], joined["city_lat"], joined["city_lon"])
    assert km.max() < 50
    recent = profiles[profiles.duplicated("cc_num") & (profiles["event_time"] >= pd.Timestamp("2025-11-01", tz="UTC"))]
    assert joined["cc_num"].isin(recent["cc_num"]).sum() > 100, "charges of owners who moved late are tested"


# --- genuine behaviour ------------------------------------------------------------------------


def test_charges_are_near_the_owner_city_as_of_their_time(
    generator: SyntheticGenerator, charges: pd.DataFrame
) -> None:
    local = charges[charges["pattern"] != IMPOSSIBLE_TRAVEL]
    joined = _as_of(local, generator.profiles()).merge(CITY[["city", "city_lat", "city_lon"]], on="city")
    assert len(joined) == len(local)
    km = haversine_km(joined["latitude"], joined["longitude"], joined["city_lat"], joined["city_lon"])
    assert km.max() < 50
    movers = generator.profiles().loc[lambda p: p.duplicated("cc_num"), ["cc_num", "event_time"]]
    with_move = joined.merge(movers.rename(columns={"event_time": "moved_at"}), on="cc_num")
    assert (with_move["datetime"] < with_move["moved_at"]).sum() > 100, "charges before moves are tested"
    assert (with_move["datetime"] >= with_move["moved_at"]).sum() > 100, "charges after moves are tested"


def test_daily_rhythm_in_local_time(generator: SyntheticGenerator, charges: pd.DataFrame) -> None:
    genuine = _as_of(charges[charges["pattern"] == "genuine"], generator.profiles()).merge(CITY, on="city")
    local_hour = (genuine["datetime"].dt.hour + genuine["utc_offset_h"].round().astype(int)) % 24
    share = local_hour.value_counts(normalize=True).reindex(range(24), fill_value=0)
    assert share.loc[1:5].sum() < 0.06 < 0.5 < share.loc[9:20].sum()


def test_amounts_differ_by_category_and_by_owner(charges: pd.DataFrame) -> None:
    genuine = charges[charges["pattern"] == "genuine"]
    median = genuine.groupby("category")["amount"].median()
    assert median["Holiday/Travel"] > 3 * median["Grocery"] > 3 * median["Domestic Transport"]
    grocery = genuine[genuine["category"] == "Grocery"].groupby("cc_num")["amount"]
    per_owner = grocery.median()[grocery.size() >= 5]
    assert per_owner.quantile(0.9) > 2 * per_owner.quantile(0.1)
    assert (genuine.loc[genuine["category"] == "Cash Withdrawal", "amount"] % 10 == 0).all()


# --- fraud and labels -------------------------------------------------------------------------


def test_fraud_rate_is_near_its_target(charges: pd.DataFrame) -> None:
    assert 0.003 < charges["is_fraud"].mean() < 0.008
    assert (charges["is_fraud"] == (charges["pattern"] != "genuine")).all(), "no label noise by default"
    assert set(charges["pattern"]) == {"genuine", CHAIN_ATTACK, IMPOSSIBLE_TRAVEL}
    rare = list(generate_days(replace(CONFIG, fraud_rate=0.0), last="2025-03-03"))
    assert sum(d.fraud_labels["is_fraud"].sum() + len(d.injected_frauds) for d in rare) == 0


def test_chain_attacks_are_bursts_of_small_charges_within_minutes(charges: pd.DataFrame) -> None:
    bursts = charges[charges["pattern"] == CHAIN_ATTACK].groupby(["incident", charges["datetime"].dt.date])
    summary = bursts.agg(
        size=("tid", "size"), cards=("cc_num", "nunique"), start=("datetime", "min"),
        end=("datetime", "max"), top_amount=("amount", "max"),
    )  # fmt: skip
    assert len(summary) >= 20
    assert summary["size"].between(3, 10).all() and (summary["cards"] == 1).all()
    assert ((summary["end"] - summary["start"]) <= pd.Timedelta(minutes=10)).all()
    assert (summary["top_amount"] <= 100).all()


def test_impossible_travel_is_far_from_the_previous_charge_within_two_hours(charges: pd.DataFrame) -> None:
    travel = charges[charges["pattern"] == IMPOSSIBLE_TRAVEL]
    assert len(travel) >= 30
    assert (travel["km_from_prev"] > 1_000).all()
    assert travel["seconds_since_prev"].between(1, 2 * 3600).all()


def test_window_features_separate_fraud_from_genuine(charges: pd.DataFrame) -> None:
    by_pattern = charges.groupby("pattern")
    assert by_pattern["seconds_since_prev"].median()[CHAIN_ATTACK] < 120
    assert by_pattern["seconds_since_prev"].median()["genuine"] > 3_600
    assert by_pattern["count_4h"].median()[CHAIN_ATTACK] >= 3 > by_pattern["count_4h"].median()["genuine"]
    assert by_pattern["amount"].median()[CHAIN_ATTACK] < by_pattern["amount"].median()["genuine"] / 3
    rule = (charges["seconds_since_prev"] < 120) | (
        (charges["km_from_prev"] > 1_000) & (charges["seconds_since_prev"] < 7_200)
    )
    recall = rule[charges["is_fraud"] == 1].mean()
    lift = charges.loc[rule, "is_fraud"].mean() / charges["is_fraud"].mean()
    assert recall > 0.85 and lift > 50


def test_labels_arrive_after_the_charge(charges: pd.DataFrame) -> None:
    delay = charges["label_time"] - charges["datetime"]
    assert (delay > pd.Timedelta(0)).all()
    genuine = delay[charges["is_fraud"] == 0]
    assert (genuine == pd.Timedelta(days=CONFIG.genuine_label_delay_days)).all()
    fraud = delay[charges["is_fraud"] == 1]
    assert fraud.between(pd.Timedelta(days=1), pd.Timedelta(days=CONFIG.max_fraud_label_delay_days)).all()
    assert fraud.dt.days.nunique() > 10, "chargebacks spread over days"


def test_label_noise_flips_some_labels_but_not_the_truth() -> None:
    noisy = replace(CONFIG, label_noise=0.02)
    day = generate_day(noisy, CONFIG.start_date)
    truth = day.transactions["tid"].isin(day.injected_frauds["tid"])
    flipped = (day.fraud_labels["is_fraud"] == 1) != truth
    assert 0.01 < flipped.mean() < 0.03
    clean = generate_day(CONFIG, CONFIG.start_date)
    pd.testing.assert_frame_equal(day.transactions, clean.transactions)


def test_tiny_configs_still_work() -> None:
    day = generate_day(SyntheticConfig(n_cards=1, transactions_per_day=3, n_days=1), "2025-01-01")
    assert day.transactions["cc_num"].nunique() <= 1
    assert len(day.transactions) == len(day.fraud_labels)
