"""String transaction ids: kept exactly as given, ties in time broken lexicographically, and the
same feature values as integer ids whose order they preserve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from feature_cases import assert_bitwise_equal, random_raw_tables, run_in_chunks, transactions_frame, utc

from feature_logic.card_state import recent_charges
from feature_logic.inputs import FeatureInputError
from feature_logic.on_demand import haversine_km
from feature_logic.transactions import last_transaction_per_card, transaction_features
from feature_logic.windows import window_aggregates

START = utc("2024-03-01")


def as_string_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows with tid 'T' + 16 hex digits: lexicographic order = the integers' order."""
    return frame.assign(tid=np.array([f"T{t:016x}" for t in frame["tid"]], dtype=object))


def back_to_ints(frame: pd.DataFrame) -> pd.DataFrame:
    assert all(isinstance(t, str) and t.startswith("T") for t in frame["tid"])
    return frame.assign(tid=np.array([int(t[1:], 16) for t in frame["tid"]], dtype=np.int64))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk_days", [1, 4])
def test_string_ids_give_the_features_of_integer_ids_bit_for_bit(seed, chunk_days):
    transactions, profiles, cards = random_raw_tables(seed, unknown_card=True)
    int_features, int_aggregates = run_in_chunks(transactions, profiles, cards, START, days=4, chunk_days=chunk_days)
    str_features, str_aggregates = run_in_chunks(as_string_ids(transactions), profiles, cards, START, days=4,
                                                 chunk_days=chunk_days)
    assert str_features["tid"].dtype == object
    assert_bitwise_equal(back_to_ints(str_features), int_features)
    assert_bitwise_equal(back_to_ints(str_aggregates), int_aggregates)


def test_string_ids_in_card_states_are_kept_as_strings():
    transactions, profiles, cards = random_raw_tables(4)
    int_features, _ = run_in_chunks(transactions, profiles, cards, START, days=4, chunk_days=4)
    str_features, _ = run_in_chunks(as_string_ids(transactions), profiles, cards, START, days=4, chunk_days=4)
    end = START + pd.Timedelta(days=4)
    int_states = recent_charges(int_features, end=end)
    str_states = recent_charges(str_features, end=end)
    for int_json, str_json in zip(int_states["charges"], str_states["charges"]):
        ints, strs = pd.read_json(int_json), pd.read_json(str_json, dtype=False)
        assert [f"T{t:016x}" for t in ints[1]] == strs[1].tolist()


def test_same_time_string_ids_are_ordered_lexicographically_not_numerically():
    card = 4_000_000_000_000_001
    rows = [(0, card, "2024-03-02 10:00", 1.0, 5.0, 5.0), (0, card, "2024-03-02 10:00", 2.0, 6.0, 6.0)]
    raw = transactions_frame(rows).assign(tid=np.array(["T9", "T10"], dtype=object))
    _, profiles, cards = random_raw_tables(0)
    features = transaction_features(raw, profiles, cards)
    assert features["tid"].tolist() == ["T10", "T9"]  # "T10" < "T9" as strings
    assert features["loc_delta_t_minus_1"].tolist() == [0.0, haversine_km(6.0, 6.0, 5.0, 5.0)]
    aggregates = window_aggregates(features, start=START, end=START + pd.Timedelta(days=2))
    # ties at t are in the frame
    assert aggregates["tid"].tolist() == ["T10", "T9"] and aggregates["trans_freq"].tolist() == [2, 2]
    assert last_transaction_per_card(features)["tid"].tolist() == ["T9"]


def test_string_ids_are_kept_exactly_even_when_they_look_like_numbers():
    rows = [(0, 4_000_000_000_000_001, "2024-03-02 10:00", 1.0, 5.0, 5.0),
            (0, 4_000_000_000_000_002, "2024-03-02 11:00", 2.0, 6.0, 6.0)]
    ids = ["00042", "9007199254740993.0"]
    raw = transactions_frame(rows).assign(tid=np.array(ids, dtype=object))
    _, profiles, cards = random_raw_tables(0)
    assert transaction_features(raw, profiles, cards)["tid"].tolist() == ids


def test_mixed_null_and_duplicate_string_ids_are_refused_by_name():
    card = 4_000_000_000_000_001
    rows = [(0, card, "2024-03-02 10:00", 1.0, 5.0, 5.0), (0, card, "2024-03-02 11:00", 2.0, 6.0, 6.0)]
    _, profiles, cards = random_raw_tables(0)
    raw = transactions_frame(rows)
    with pytest.raises(FeatureInputError, match=r"transactions\.tid: 1 null id"):
        transaction_features(raw.assign(tid=np.array(["a", None], dtype=object)), profiles, cards)
    with pytest.raises(FeatureInputError, match=r"string ids must all be strings.*7"):
        transaction_features(raw.assign(tid=np.array(["a", 7], dtype=object)), profiles, cards)
    with pytest.raises(FeatureInputError, match=r"share a value.*'dup'"):
        transaction_features(raw.assign(tid=np.array(["dup", "dup"], dtype=object)), profiles, cards)
    previous = transaction_features(raw.iloc[:1], profiles, cards)  # integer tids
    later = raw.iloc[1:].assign(tid=np.array(["b"], dtype=object))
    with pytest.raises(FeatureInputError, match="integer and string ids are mixed"):
        transaction_features(later, profiles, cards, previous[["tid", "cc_num", "datetime", "latitude", "longitude"]])
