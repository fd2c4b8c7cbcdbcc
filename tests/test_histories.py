"""Histories prepared once for many batches (`prepare_histories`, `SortedVersions`) give the same
bits as the DataFrames given to every batch, whatever the date columns' type."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from feature_cases import assert_bitwise_equal, random_raw_tables, run_in_chunks, utc

from feature_logic.histories import VersionHistory
from feature_logic.inputs import FeatureInputError
from feature_logic.point_in_time import SortedVersions, asof_positions
from feature_logic.transactions import MissingHistoryWarning, prepare_histories, transaction_features

START = utc("2024-03-01")


def as_datetimes(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The date column as datetime64[ms] at midnight, as the raw tables' reader gives it."""
    return frame.assign(**{column: pd.to_datetime(frame[column]).astype("datetime64[ms]")})


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("dates", ["objects", "datetime64"])
@pytest.mark.parametrize("chunk_days", [1, 3])
def test_prepared_histories_equal_dataframes_bit_for_bit(seed, dates, chunk_days):
    """Both groups, chunk by chunk as the pipeline runs: the prepared histories are reused by every
    chunk (their date cache too), against fresh DataFrames each chunk, with a card that has no
    history at all (nulls) and owners who move mid-range."""
    transactions, profiles, cards = random_raw_tables(seed, unknown_card=True)
    if dates == "datetime64":
        profiles, cards = as_datetimes(profiles, "birthdate"), as_datetimes(cards, "expires")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingHistoryWarning)
        expected = run_in_chunks(transactions, profiles, cards, START, days=4, chunk_days=chunk_days)
        prepared = prepare_histories(profiles, cards)
        actual = run_in_chunks(transactions, *prepared, START, days=4, chunk_days=chunk_days)
    for mine, theirs in zip(actual, expected):
        assert_bitwise_equal(mine, theirs)
    features = expected[0]
    assert features["lives_city"].isna().any() and features["lives_city"].str.startswith("New").any()
    assert features["age_at_transaction"].notna().sum() > len(features) // 2


def test_a_prepared_history_is_returned_as_it_is_and_checked_by_name():
    _, profiles, cards = random_raw_tables(3)
    prepared_profiles, prepared_cards = prepare_histories(profiles, cards)
    assert prepare_histories(prepared_profiles, prepared_cards) == (prepared_profiles, prepared_cards)
    with pytest.raises(ValueError, match="expected the profiles history, got the credit_cards one"):
        prepare_histories(prepared_cards, prepared_cards)
    with pytest.raises(FeatureInputError, match=r"profiles: missing column\(s\) \['birthdate'\]"):
        prepare_histories(profiles.drop(columns="birthdate"), cards)


def test_date_objects_are_converted_for_each_batch_only_where_matched():
    """A date that no batch reaches is never parsed (date objects are costly), so even a bad one in
    a row no charge matches passes, batch after batch, while a matched one is refused."""
    transactions, profiles, cards = random_raw_tables(4)
    bad = profiles.copy()
    bad["birthdate"] = bad["birthdate"].astype(object)
    unknown = int(bad["cc_num"].max()) + 1
    bad.loc[len(bad)] = {**bad.iloc[0].to_dict(), "cc_num": unknown, "birthdate": "not a date"}
    history = VersionHistory.of(bad, "profiles", ["birthdate"])
    for day in range(2):
        batch = transactions[(transactions["datetime"] >= START + pd.Timedelta(days=day))
                             & (transactions["datetime"] < START + pd.Timedelta(days=day + 1))]
        transaction_features(batch, history, cards)
    charge = transactions.iloc[:1].assign(cc_num=unknown)
    with pytest.raises(FeatureInputError, match="profiles.birthdate: expected dates"), warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingHistoryWarning)  # the new card has no credit_cards rows either
        transaction_features(charge, history, cards)


@pytest.mark.parametrize("seed", range(4))
def test_sorted_versions_answer_as_the_plain_tables_do(seed):
    """Grouped once or given as arrays, sorted by key or not, with keys the right side lacks."""
    rng = np.random.default_rng(seed)
    left_keys, left_times = rng.integers(0, 25, 400), rng.integers(0, 100, 400)
    right_keys = rng.integers(0, 20, 150)
    right_times = rng.permutation(1000)[:150]
    by_key = np.argsort(right_keys, kind="stable")
    for keys, times in ((right_keys, right_times), (right_keys[by_key], right_times[by_key])):
        (plain,) = asof_positions(left_keys, left_times, [(keys, times, "r")])
        (grouped,) = asof_positions(left_keys, left_times, [SortedVersions.of(keys, times, "r")])
        np.testing.assert_array_equal(grouped, plain)
        for i in range(len(left_keys)):
            candidates = np.flatnonzero((keys == left_keys[i]) & (times <= left_times[i]))
            assert grouped[i] == (candidates[np.argmax(times[candidates])] if len(candidates) else -1)
    (empty,) = asof_positions(left_keys, left_times, [SortedVersions.of(right_keys[:0], right_times[:0], "r")])
    assert (empty == -1).all()


def test_sorted_versions_refuse_a_tie_a_lookup_meets():
    versions = SortedVersions.of(np.array([5, 5, 6]), np.array([10, 10, 3]), "profiles (cc_num, event_time)")
    assert asof_positions(np.array([5]), np.array([9]), [versions])[0].tolist() == [-1]
    assert asof_positions(np.array([6]), np.array([9]), [versions])[0].tolist() == [2]
    with pytest.raises(FeatureInputError, match=r"profiles \(cc_num, event_time\): several versions share"):
        asof_positions(np.array([5]), np.array([10]), [versions])
