"""The `transactions` feature group: point-in-time profile and card attributes, the previous
charge's distance and time, no look-ahead, and the same bits whatever the batch boundaries."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feature_cases import (
    assert_bitwise_equal,
    cards_frame,
    profiles_frame,
    random_raw_tables,
    run_in_chunks,
    transactions_frame,
    utc,
)

from feature_logic.inputs import FeatureInputError
from feature_logic.on_demand import haversine_km
from feature_logic.transactions import (
    FEATURE_DESCRIPTIONS,
    PREVIOUS_COLUMNS,
    TRANSACTION_FEATURE_COLUMNS,
    MissingHistoryError,
    MissingHistoryWarning,
    last_transaction_per_card,
    transaction_features,
)

CARD = 4_111_222_233_334_444
OTHER_CARD = 4_999_888_877_776_666
PROFILES = profiles_frame(
    [
        (CARD, "Paris", "2020-01-01", "1990-06-15", "F"),
        (CARD, "Lyon", "2024-03-01 12:00", "1990-06-15", "F"),  # the owner moves
        (OTHER_CARD, "Nantes", "2019-05-05", "1980-01-01", "M"),
    ]
)
CARDS = cards_frame(
    [
        (CARD, "2024-06-30", "2019-12-01"),
        (CARD, "2027-02-28", "2024-03-01 09:00"),  # reissued with a new expiry
        (OTHER_CARD, "2025-12-31", "2019-05-05"),
    ]
)


def features_of(rows: list[tuple], previous: pd.DataFrame | None = None) -> pd.DataFrame:
    return transaction_features(transactions_frame(rows), PROFILES, CARDS, previous)


@pytest.mark.parametrize(
    ("when", "city"),
    [
        ("2024-03-01 11:59:59.999999", "Paris"),  # just before the move
        ("2024-03-01 12:00:00", "Lyon"),  # at the move: the new version applies
        ("2024-03-02 08:00:00", "Lyon"),
        ("2020-01-01 00:00:00", "Paris"),  # at the first version's own event time
    ],
)
def test_lives_city_is_the_city_as_of_the_charge(when, city):
    features = features_of([(1, CARD, when, 10.0, 45.0, 4.0)])
    assert features["lives_city"].tolist() == [city]
    assert features["sex"].tolist() == ["F"]


@pytest.mark.parametrize(
    ("when", "expected_days"),
    [
        ("2024-02-29 00:00", 123.0),  # old card: valid through 2024-06-30, i.e. until 2024-07-01 00:00
        ("2024-03-01 08:59:59.999999", 121.0 + (15 * 3600 + 1e-6) / 86400),
        ("2024-03-01 09:00", 1094.0 + 15 / 24),  # at the reissue: valid through 2027-02-28
        ("2024-06-30 12:00", 973.5),
    ],
)
def test_days_until_card_expires_follows_the_card_version_valid_at_the_charge(when, expected_days):
    features = features_of([(1, CARD, when, 10.0, 45.0, 4.0)])
    assert features["days_until_card_expires"].iloc[0] == pytest.approx(expected_days, rel=1e-12)


def test_days_until_card_expires_turns_negative_once_expired():
    features = transaction_features(
        transactions_frame([(1, OTHER_CARD, "2026-01-02 12:00", 5.0, 0.0, 0.0)]), PROFILES, CARDS
    )
    assert features["days_until_card_expires"].iloc[0] == -1.5


def test_age_at_transaction_is_years_of_365_2425_days_since_birth():
    features = features_of([(1, CARD, "2020-06-15 00:00", 10.0, 45.0, 4.0)])
    days_lived = (dt.date(2020, 6, 15) - dt.date(1990, 6, 15)).days
    assert features["age_at_transaction"].iloc[0] == days_lived / 365.2425
    assert features["age_at_transaction"].iloc[0] == pytest.approx(30.0, abs=0.01)


def test_charges_of_a_card_without_any_history_get_nulls_and_a_warning():
    with pytest.warns(MissingHistoryWarning) as caught:
        features = features_of([(1, 123, "2024-01-01", 1.0, 0.0, 0.0), (2, CARD, "2024-01-01", 1.0, 0.0, 0.0)])
    assert features["tid"].tolist() == [1, 2]
    assert features["lives_city"].tolist() == [None, "Paris"] and features["sex"].tolist() == [None, "F"]
    assert features["age_at_transaction"].isna().tolist() == [True, False]
    assert features["days_until_card_expires"].isna().tolist() == [True, False]
    messages = [str(w.message) for w in caught]
    assert any("1 of 2 charge(s) are of 1 card(s) with no profiles rows" in m and "[123]" in m and "lives_city" in m
               for m in messages)
    assert any("no credit_cards rows" in m and "days_until_card_expires" in m for m in messages)


def test_a_charge_before_its_cards_first_version_is_an_error_with_samples_and_a_hint():
    # A snapshot exported after the charges, its export time given as event_time.
    snapshot = PROFILES.assign(event_time=pd.Timestamp("2025-06-01", tz="UTC")).drop_duplicates("cc_num")
    rows = [(5, CARD, "2024-03-02 10:00", 1.0, 0.0, 0.0), (6, CARD, "2024-03-03 10:00", 1.0, 0.0, 0.0),
            (7, OTHER_CARD, "2024-03-03 11:00", 1.0, 0.0, 0.0)]
    with pytest.raises(MissingHistoryError) as caught:
        transaction_features(transactions_frame(rows), snapshot, CARDS)
    message = str(caught.value)
    assert "3 of 3 charge(s) (2 card(s)) have no profiles version valid at their time" in message
    assert f"tid 5 (card {CARD}) at 2024-03-02T10:00:00" in message and "first profiles version 2025-06-01" in message
    assert "valid_from" in message and "event_time at or before each card's first charge" in message
    assert "only nulls" not in message and len(message) < 2_000
    # Declared valid (valid_from before the charges), the same snapshot works.
    valid = snapshot.assign(event_time=pd.Timestamp("2000-01-01", tz="UTC"))
    assert transaction_features(transactions_frame(rows), valid, CARDS)["sex"].notna().all()


def test_first_charge_of_a_card_has_zero_distance_and_no_time_delta():
    features = features_of([(1, CARD, "2024-03-02 10:00", 10.0, 45.0, 4.0)])
    assert features["loc_delta_t_minus_1"].tolist() == [0.0]
    assert np.isnan(features["time_delta_t_minus_1"].iloc[0])


def test_previous_means_earlier_in_time_never_the_next_charge():
    rows = [
        (1, CARD, "2024-03-02 10:00", 1.0, 0.0, 0.0),
        (2, CARD, "2024-03-02 11:00", 2.0, 1.0, 0.0),
        (3, CARD, "2024-03-02 11:30", 3.0, 10.0, 0.0),
    ]
    features = features_of(rows[::-1]).set_index("tid")
    assert features.loc[2, "time_delta_t_minus_1"] == 3600.0
    assert features.loc[2, "loc_delta_t_minus_1"] == haversine_km(0.0, 0.0, 1.0, 0.0)
    assert features.loc[3, "time_delta_t_minus_1"] == 1800.0
    assert features.loc[3, "loc_delta_t_minus_1"] == haversine_km(1.0, 0.0, 10.0, 0.0)


def test_same_time_charges_are_ordered_by_tid():
    rows = [(9, CARD, "2024-03-02 10:00", 1.0, 5.0, 5.0), (4, CARD, "2024-03-02 10:00", 2.0, 6.0, 6.0)]
    features = features_of(rows)
    assert features["tid"].tolist() == [4, 9]
    assert features["loc_delta_t_minus_1"].tolist() == [0.0, haversine_km(6.0, 6.0, 5.0, 5.0)]
    assert np.isnan(features["time_delta_t_minus_1"].iloc[0])
    assert features["time_delta_t_minus_1"].iloc[1] == 0.0


def test_previous_charge_days_before_the_batch_is_taken_from_previous():
    previous = transaction_features(
        transactions_frame(
            [(1, CARD, "2024-02-20 08:00", 5.0, 48.85, 2.35), (7, OTHER_CARD, "2024-02-27 08:00", 5.0, 0.0, 0.0)]
        ),
        PROFILES,
        CARDS,
    )[list(PREVIOUS_COLUMNS)]
    features = features_of([(2, CARD, "2024-03-02 08:00:00.5", 10.0, 45.76, 4.84)], previous)
    assert features["time_delta_t_minus_1"].iloc[0] == 11 * 86_400 + 0.5
    assert features["loc_delta_t_minus_1"].iloc[0] == haversine_km(48.85, 2.35, 45.76, 4.84)


def test_output_columns_dtypes_and_order():
    features = features_of([(3, CARD, "2024-03-02 10:00", 1.0, 5.0, 5.0), (1, OTHER_CARD, "2024-03-01", 2.0, 6.0, 6.0)])
    assert tuple(features.columns) == TRANSACTION_FEATURE_COLUMNS
    assert features["tid"].tolist() == [1, 3]
    assert str(features["datetime"].dtype) == "datetime64[us, UTC]"
    assert features["tid"].dtype == np.int64 and features["cc_num"].dtype == np.int64
    for column in ("age_at_transaction", "days_until_card_expires", "loc_delta_t_minus_1", "time_delta_t_minus_1"):
        assert features[column].dtype == np.float64
    assert features.index.equals(pd.RangeIndex(2))


def test_every_output_column_has_a_one_line_description():
    assert set(FEATURE_DESCRIPTIONS) == set(TRANSACTION_FEATURE_COLUMNS)
    assert all(text and "\n" not in text for text in FEATURE_DESCRIPTIONS.values())


def test_empty_batch_gives_an_empty_frame_with_the_columns():
    features = features_of([])
    assert len(features) == 0 and tuple(features.columns) == TRANSACTION_FEATURE_COLUMNS


@pytest.mark.parametrize("date_kind", ["object", "datetime64", "arrow"])
def test_date_columns_are_read_whatever_the_reader_returned(date_kind):
    def convert(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        if date_kind == "datetime64":
            return frame.assign(**{column: pd.to_datetime(frame[column])})
        if date_kind == "arrow":
            return frame.assign(
                **{column: pd.Series(pa.array(frame[column], pa.date32()), dtype=pd.ArrowDtype(pa.date32()))}
            )
        return frame

    rows = transactions_frame(
        [(1, CARD, "2024-03-01 10:00", 1.0, 0.0, 0.0), (2, OTHER_CARD, "2024-03-01", 1.0, 0.0, 0.0)]
    )
    expected = transaction_features(rows, PROFILES, CARDS)
    actual = transaction_features(rows, convert(PROFILES, "birthdate"), convert(CARDS, "expires"))
    assert_bitwise_equal(actual, expected)


def test_nanosecond_input_times_give_microsecond_output():
    rows = transactions_frame([(1, CARD, "2024-03-01 10:00", 1.0, 0.0, 0.0)])
    rows["datetime"] = rows["datetime"].dt.as_unit("ns")
    features = transaction_features(rows, PROFILES, CARDS)
    assert str(features["datetime"].dtype) == "datetime64[us, UTC]"
    assert features["datetime"].iloc[0] == utc("2024-03-01 10:00")


def test_inputs_are_left_untouched():
    transactions, profiles, cards = random_raw_tables(seed=11, days=2)
    copies = [frame.copy(deep=True) for frame in (transactions, profiles, cards)]
    transaction_features(transactions, profiles, cards)
    for original, copy in zip((transactions, profiles, cards), copies):
        pd.testing.assert_frame_equal(original, copy)


# --- bad input: a clear error naming the table, the column and the offending values ---


def test_missing_column_is_named():
    rows = transactions_frame([(1, CARD, "2024-03-01", 1.0, 0.0, 0.0)]).drop(columns=["amount"])
    with pytest.raises(FeatureInputError, match=r"transactions: missing column\(s\) \['amount'\]"):
        transaction_features(rows, PROFILES, CARDS)


def test_timezone_naive_times_are_refused():
    rows = transactions_frame([(1, CARD, "2024-03-01", 1.0, 0.0, 0.0)])
    rows["datetime"] = rows["datetime"].dt.tz_localize(None)
    with pytest.raises(FeatureInputError, match="transactions.datetime: expected a timezone-aware"):
        transaction_features(rows, PROFILES, CARDS)


def test_duplicate_tids_are_named():
    rows = transactions_frame([(5, CARD, "2024-03-01", 1.0, 0.0, 0.0), (5, CARD, "2024-03-02", 1.0, 0.0, 0.0)])
    rows.index = [10, 11]
    with pytest.raises(FeatureInputError, match=r"transactions.tid: 2 row\(s\).*e\.g\. \[5\] at row\(s\) \[10, 11\]"):
        transaction_features(rows, PROFILES, CARDS)


def test_previous_holding_a_charge_of_the_batch_is_refused():
    rows = transactions_frame([(5, CARD, "2024-03-01", 1.0, 0.0, 0.0)])
    previous = rows[list(PREVIOUS_COLUMNS)]
    with pytest.raises(
        FeatureInputError, match=r"previous: 1 charge\(s\) of the batch are in previous too, e.g. tid \[5\]"
    ):
        transaction_features(rows, PROFILES, CARDS, previous)


def test_null_card_numbers_are_refused():
    rows = transactions_frame([(5, CARD, "2024-03-01", 1.0, 0.0, 0.0)])
    rows["cc_num"] = pd.array([None], dtype="Int64")
    with pytest.raises(FeatureInputError, match="transactions.cc_num: 1 null"):
        transaction_features(rows, PROFILES, CARDS)


def test_two_profile_versions_at_the_same_time_are_ambiguous():
    profiles = pd.concat([PROFILES, PROFILES.iloc[[1]].assign(city="Marseille")], ignore_index=True)
    rows = transactions_frame([(1, CARD, "2024-03-05", 1.0, 0.0, 0.0)])
    with pytest.raises(FeatureInputError, match=rf"profiles \(cc_num, event_time\).*ambiguous.*{CARD}"):
        transaction_features(rows, profiles, CARDS)
    # A duplicate no charge reaches (superseded by a later version) is harmless.
    later = pd.concat([profiles, PROFILES.iloc[[1]].assign(event_time=utc("2024-03-04"))], ignore_index=True)
    assert transaction_features(rows, later, CARDS)["lives_city"].tolist() == ["Lyon"]


def test_undated_birthdates_are_refused():
    profiles = PROFILES.assign(birthdate=["1990-06-15", "not a date", None])
    with pytest.raises(FeatureInputError, match="profiles.birthdate: expected dates"):
        transaction_features(transactions_frame([(1, CARD, "2024-03-05", 1.0, 0.0, 0.0)]), profiles, CARDS)


# --- properties on seeded random tables full of edge cases ---


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_feature_reads_anything_later_than_its_charge(seed):
    transactions, profiles, cards = random_raw_tables(seed, unknown_card=True)
    everything = transaction_features(transactions, profiles, cards)
    for cutoff in everything["datetime"].iloc[[len(everything) // 3, 2 * len(everything) // 3]]:
        later = transactions["datetime"] > cutoff
        scrambled = transactions.copy()
        scrambled.loc[later, ["amount", "latitude", "longitude"]] = 1.0  # perturb the future
        truncated = transaction_features(
            transactions[~later], profiles[profiles["event_time"] <= cutoff], cards[cards["event_time"] <= cutoff]
        )
        perturbed = transaction_features(scrambled, profiles, cards)
        known = everything["datetime"] <= cutoff
        assert_bitwise_equal(truncated, everything[known].reset_index(drop=True))
        assert_bitwise_equal(perturbed[known].reset_index(drop=True), everything[known].reset_index(drop=True))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunk_days", [1, 2, 3])
def test_chunked_batches_with_previous_equal_one_batch_bit_for_bit(seed, chunk_days):
    transactions, profiles, cards = random_raw_tables(seed, unknown_card=True)
    whole = transaction_features(transactions, profiles, cards)
    chunked, _ = run_in_chunks(transactions, profiles, cards, utc("2024-03-01"), days=4, chunk_days=chunk_days)
    assert_bitwise_equal(chunked, whole)


def test_row_order_of_the_inputs_does_not_matter():
    transactions, profiles, cards = random_raw_tables(seed=4)
    expected = transaction_features(transactions, profiles, cards)
    shuffled = [frame.sample(frac=1.0, random_state=9) for frame in (transactions, profiles, cards)]
    assert_bitwise_equal(transaction_features(*shuffled), expected)


def test_last_transaction_per_card_keeps_each_cards_latest_charge_by_time_then_tid():
    rows = transactions_frame(
        [
            (1, CARD, "2024-03-01 10:00", 1.0, 1.0, 1.0),
            (8, CARD, "2024-03-01 12:00", 1.0, 2.0, 2.0),
            (3, CARD, "2024-03-01 12:00", 1.0, 3.0, 3.0),
            (2, OTHER_CARD, "2024-03-01 09:00", 1.0, 4.0, 4.0),
        ]
    )
    for frame in (rows, rows.iloc[::-1]):  # unsorted and sorted input alike
        latest = last_transaction_per_card(frame)
        assert tuple(latest.columns) == PREVIOUS_COLUMNS
        assert latest["tid"].tolist() == [2, 8]


def test_empty_histories_give_nulls_not_errors():
    rows = transactions_frame([(1, CARD, "2024-03-01 10:00", 1.0, 0.0, 0.0)])
    features = transaction_features(rows, PROFILES.iloc[:0], CARDS.iloc[:0])
    assert features["lives_city"].tolist() == [None]
    assert features[["age_at_transaction", "days_until_card_expires"]].isna().all(axis=None)
