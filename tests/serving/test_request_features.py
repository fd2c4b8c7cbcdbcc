"""The request-time features of a new charge equal the batch feature groups' values bit for bit,
whether the card's state was built by the batch (`recent_charges`) or kept up to date charge by
charge (`remember_charge`), on seeded tables full of edge cases."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from feature_cases import HOUR_US, cards_frame, profiles_frame, random_raw_tables, transactions_frame, utc

from feature_logic.card_state import (
    card_versions,
    decode_charges,
    decode_versions,
    encode_charges,
    recent_charges,
)
from feature_logic.inputs import FeatureInputError
from feature_logic.on_demand import haversine_km, time_delta_seconds
from feature_logic.request_features import (
    NewCharge,
    StoredCharge,
    Version,
    charge_features,
    haversine_one,
    remember_charge,
)
from feature_logic.transactions import transaction_features
from feature_logic.windows import window_aggregates

FEATURES = ("amount", "age_at_transaction", "days_until_card_expires", "loc_delta_t_minus_1",
            "time_delta_t_minus_1", "trans_volume_mavg", "trans_volume_mstd", "loc_delta_mavg")


def _batch(transactions, profiles, credit_cards) -> pd.DataFrame:
    """Both feature groups over all charges, joined on tid."""
    features = transaction_features(transactions, profiles, credit_cards)
    start = features["datetime"].min().to_pydatetime()
    end = features["datetime"].max().to_pydatetime() + dt.timedelta(microseconds=1)
    windows = window_aggregates(features, start=start, end=end)
    return features.merge(windows.drop(columns=["cc_num", "datetime"]), on="tid")


def _micros(row) -> int:
    return int(row.datetime.value // 1000)


def _new(row, tid=True) -> NewCharge:
    return NewCharge(_micros(row), int(row.tid) if tid else None, row.category, float(row.amount),
                     float(row.latitude), float(row.longitude))


def _same_bits(a: float, b: float) -> bool:
    return np.float64(a).view(np.int64) == np.float64(b).view(np.int64)


def _assert_equal(online, batch_row) -> None:
    for name in FEATURES:
        assert _same_bits(getattr(online, name), getattr(batch_row, name)), (
            f"tid {batch_row.tid}: {name} online {getattr(online, name)!r} vs batch {getattr(batch_row, name)!r}")
    assert online.trans_freq == batch_row.trans_freq and online.category == batch_row.category


def _ties_with_a_later_charge(batch: pd.DataFrame) -> set[int]:
    """Charges whose batch window counts a same-microsecond charge of the card that comes after
    them: a charge scored as it arrives cannot know that one yet."""
    ordered = batch.sort_values(["cc_num", "datetime", "tid"])
    later_same_time = ordered.duplicated(["cc_num", "datetime"], keep="last")
    return set(ordered.loc[later_same_time, "tid"].tolist())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_charge_by_charge_state_gives_the_batch_values(seed):
    transactions, profiles, credit_cards = random_raw_tables(seed)
    batch = _batch(transactions, profiles, credit_cards)
    versions = card_versions(profiles, credit_cards).set_index("cc_num")
    skipped = _ties_with_a_later_charge(batch)
    states: dict[int, tuple[StoredCharge, ...]] = {}
    compared = 0
    for row in batch.sort_values(["datetime", "tid"]).itertuples():
        charges = states.get(row.cc_num, ())
        online = charge_features(_new(row), charges, decode_versions(versions.at[row.cc_num, "profile_versions"]),
                                 decode_versions(versions.at[row.cc_num, "card_versions"]))
        assert online.complete
        if row.tid not in skipped:
            _assert_equal(online, row)
            compared += 1
        remembered = remember_charge(charges, StoredCharge(_micros(row), int(row.tid), float(row.latitude),
                                                           float(row.longitude), float(row.amount),
                                                           online.loc_delta_t_minus_1))
        assert remembered is not None
        states[row.cc_num] = remembered
    assert compared > 0.8 * len(batch)


@pytest.mark.parametrize("seed", [4, 5])
def test_state_rebuilt_from_the_feature_group_gives_the_batch_values(seed):
    transactions, profiles, credit_cards = random_raw_tables(seed)
    batch = _batch(transactions, profiles, credit_cards)
    versions = card_versions(profiles, credit_cards).set_index("cc_num")
    shared_instant = batch.duplicated(["cc_num", "datetime"], keep=False)
    sample = batch[~shared_instant].sample(60, random_state=seed)
    for row in sample.itertuples():
        card_rows = batch[batch["cc_num"] == row.cc_num]
        state = recent_charges(card_rows, end=row.datetime.to_pydatetime())
        charges = decode_charges(state["charges"].iloc[0]) if len(state) else ()
        online = charge_features(_new(row), charges, decode_versions(versions.at[row.cc_num, "profile_versions"]),
                                 decode_versions(versions.at[row.cc_num, "card_versions"]))
        assert online.complete
        _assert_equal(online, row)
        # A charge without a tid, and the same charge scored twice, give the same features.
        _assert_equal(charge_features(_new(row, tid=False), charges, [], []), _masked(row))
        again = remember_charge(charges, StoredCharge(_micros(row), int(row.tid), row.latitude, row.longitude,
                                                      row.amount, online.loc_delta_t_minus_1))
        _assert_equal(charge_features(_new(row), again, decode_versions(versions.at[row.cc_num, "profile_versions"]),
                                      decode_versions(versions.at[row.cc_num, "card_versions"])), row)


def _days(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


def _masked(row):
    """The batch row as seen without the owner's and card's versions."""
    return row._replace(age_at_transaction=math.nan, days_until_card_expires=math.nan)


def test_known_values_on_a_hand_made_card():
    charges = transactions_frame([
        (1, 7, "2024-03-01 10:00:00", 10.0, 0.0, 0.0),
        (2, 7, "2024-03-01 11:00:00", 30.0, 1.0, 0.0),
    ])
    features = transaction_features(charges, profiles_frame([(7, "Oslo", "2020-01-01", "1990-03-01", "F")]),
                                    cards_frame([(7, "2024-03-02", "2020-01-01")]))
    state = decode_charges(recent_charges(features, end=utc("2024-03-01 12:00")).at[0, "charges"])
    online = charge_features(NewCharge(utc("2024-03-01 12:00").value // 1000, 3, "Grocery", 20.0, 1.0, 0.0), state,
                             [Version(0, _days("1990-03-01"))], [Version(0, _days("2024-03-02"))])
    assert online.trans_freq == 3 and online.trans_volume_mavg == 20.0
    assert online.trans_volume_mstd == pytest.approx(10.0)
    assert online.time_delta_t_minus_1 == 3600.0 and online.loc_delta_t_minus_1 == 0.0
    assert online.days_until_card_expires == 1.5  # valid through 2024-03-02, i.e. until the midnight after it
    assert online.age_at_transaction == pytest.approx(34.0, abs=0.01)
    first = charge_features(NewCharge(0, None, "Other", 5.0, 0.0, 0.0), (), (), ())
    assert (first.loc_delta_t_minus_1, first.trans_freq, first.trans_volume_mstd) == (0.0, 1, 0.0)
    assert math.isnan(first.time_delta_t_minus_1) and math.isnan(first.age_at_transaction)


def test_state_keeps_the_window_and_one_charge_before_it():
    hours = [0, 1, 2, 6, 7, 9]  # the latest is at 9h: (5h, 9h] is inside, 2h is the one before
    features = transaction_features(
        transactions_frame(
            [(10 + i, 7, f"2024-03-01 0{h}:00:00", float(i), 0.0, float(i)) for i, h in enumerate(hours)]
        ),
        profiles_frame([(7, "Oslo", "2020-01-01", "1990-03-01", "F")]),
        cards_frame([(7, "2030-01-01", "2020-01-01")]),
    )
    state = recent_charges(features, end=utc("2024-03-02"))
    assert state["datetime"].tolist() == [utc("2024-03-01 09:00")]
    assert [c.tid for c in decode_charges(state.at[0, "charges"])] == [12, 13, 14, 15]
    assert recent_charges(features, end=utc("2024-03-02"), start=utc("2024-03-01 09:00:01")).empty
    as_of_nine = recent_charges(features, end=utc("2024-03-01 09:00"))  # the 9h charge is not there yet
    assert [c.tid for c in decode_charges(as_of_nine.at[0, "charges"])] == [12, 13, 14]  # (3h, 7h] plus 2h
    charges = decode_charges(state.at[0, "charges"])
    assert decode_charges(encode_charges(charges)) == charges


def test_an_out_of_order_charge_is_flagged_and_not_remembered():
    hours = [0, 1, 2, 6, 7, 9]
    charges = tuple(StoredCharge(h * HOUR_US, 10 + i, 0.0, 0.0, 1.0, 0.0) for i, h in enumerate(hours))[2:]
    late = NewCharge(3 * HOUR_US, 99, "Other", 1.0, 0.0, 0.0)  # its window reaches before 2h: not held
    assert not charge_features(late, charges, (), ()).complete
    assert charge_features(NewCharge(8 * HOUR_US, 98, "Other", 1.0, 0.0, 0.0), charges, (), ()).complete
    assert remember_charge(charges, StoredCharge(late.micros, 99, 0.0, 0.0, 1.0, 0.0)) is None
    newest = remember_charge(charges, StoredCharge(14 * HOUR_US, 100, 0.0, 0.0, 1.0, 0.0))
    assert [c.tid for c in newest] == [15, 100]  # 9h is the one charge before (10h, 14h]


def test_card_versions_keep_every_version_and_refuse_ambiguous_ones():
    profiles = profiles_frame([(7, "Oslo", "2024-01-01", "1990-03-01", "F"), (7, "Rome", "2023-01-01", None, "F")])
    cards = cards_frame([(8, "2030-01-31", "2024-02-01")])
    versions = card_versions(profiles, cards)
    assert versions["cc_num"].tolist() == [7, 8]
    assert [v.days for v in decode_versions(versions.at[0, "profile_versions"])] == [None, _days("1990-03-01")]
    assert versions.at[0, "card_versions"] == "[]" and versions.at[1, "profile_versions"] == "[]"
    assert versions.at[1, "event_time"] == utc("2024-02-01")
    twice = profiles_frame([(7, "Oslo", "2024-01-01", "1990-03-01", "F"), (7, "Rome", "2024-01-01", "1990-03-01", "F")])
    with pytest.raises(FeatureInputError, match="card 7 has two versions"):
        card_versions(twice, cards)


def test_one_charge_twins_give_the_batch_functions_bits():
    """`haversine_one` and the integer time delta equal `haversine_km` and `time_delta_seconds` (what the
    batch computes) bit for bit: far and near points, the poles, the antimeridian, the same point."""
    rng = np.random.default_rng(3)
    far = np.column_stack([rng.uniform(-90, 90, 50_000), rng.uniform(-180, 180, 50_000),
                           rng.uniform(-90, 90, 50_000), rng.uniform(-180, 180, 50_000)])
    near = far.copy()
    near[:, 2] = np.clip(near[:, 0] + rng.normal(0, 0.01, len(near)), -90, 90)
    near[:, 3] = near[:, 1] + rng.normal(0, 0.01, len(near))
    edges = np.array([[90, 0, -90, 0], [0, 179.99, 0, -179.99], [48.85, 2.35, 48.85, 2.35], [0, 0, 0, 180],
                      [-90, 10, -90, -170], [1e-300, 0, -1e-300, 0]], dtype=np.float64)
    points = np.concatenate([far, near, edges])
    batch = haversine_km(points[:, 0], points[:, 1], points[:, 2], points[:, 3])
    one = np.array([haversine_one(*row) for row in points.tolist()])
    assert one.tobytes() == batch.tobytes()

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    for _ in range(2_000):
        earlier, later = sorted(int(v) for v in rng.integers(-2**52, 2**52, size=2))
        at, before = epoch + dt.timedelta(microseconds=later), epoch + dt.timedelta(microseconds=earlier)
        assert (later - earlier) / 1_000_000.0 == time_delta_seconds(at, before)
