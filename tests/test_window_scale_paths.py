"""The scale paths of the window and point-in-time logic, forced on small data and compared with
the main paths: time ranks instead of microseconds when cards x time span no longer packs into
int64, long sorted inputs cut into passes, unsorted inputs, ties in time, an empty right side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from feature_cases import HOUR_US, assert_bitwise_equal, random_raw_tables, utc

from feature_logic.inputs import FeatureInputError
from feature_logic.point_in_time import asof_positions, group_time_order, previous_positions, sorted_by_time
from feature_logic.transactions import transaction_features
from feature_logic.windows import _passes, window_aggregates

START, END = utc("2024-03-01"), utc("2024-03-05")
#: A few thousand years after the data: microseconds x cards overflow int64.
FAR_US = int(np.datetime64("9999-01-01", "us").astype(np.int64))
FAR_CARDS = 64


def far_rows(features: pd.DataFrame) -> pd.DataFrame:
    """Charges of other cards thousands of years after `end`: outside [start, end), so they may not
    change any result, but cards x (time span + window) then exceeds 2^62 and the windows run on
    time ranks."""
    n = FAR_CARDS * 2
    micros = FAR_US + np.arange(n, dtype=np.int64) * HOUR_US
    far = pd.DataFrame({
        "tid": 10**12 + np.arange(n, dtype=np.int64),
        "cc_num": 1 + np.arange(n, dtype=np.int64) % FAR_CARDS,
        "datetime": pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"),
        "amount": np.linspace(1.0, 99.0, n),
        "loc_delta_t_minus_1": np.linspace(0.0, 5.0, n),
    })
    combined = pd.concat([features, far], ignore_index=True)
    micros_all = combined["datetime"].to_numpy(dtype="datetime64[us]").view(np.int64)
    span = int(micros_all.max() - micros_all.min()) + 4 * HOUR_US + 1
    assert combined["cc_num"].nunique() * span >= 2**62  # the rank-based path, not the packed one
    return far


def window_group(seed: int) -> pd.DataFrame:
    transactions, profiles, cards = random_raw_tables(seed)
    return transaction_features(transactions, profiles, cards)[
        ["tid", "cc_num", "datetime", "amount", "loc_delta_t_minus_1"]
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("shuffled", [False, True])
def test_rank_path_equals_the_packed_path_bit_for_bit(seed, shuffled):
    """Random groups full of same-time charges and charges exactly 4h and 4h - 1us apart."""
    features = window_group(seed)
    expected = window_aggregates(features, start=START, end=END)
    forced = pd.concat([features, far_rows(features)], ignore_index=True)
    if shuffled:
        forced = forced.sample(frac=1.0, random_state=seed)
    assert expected["trans_freq"].max() >= 3
    assert_bitwise_equal(window_aggregates(forced, start=START, end=END), expected)


@pytest.mark.parametrize(
    ("earlier", "count"),
    [
        ("2024-03-01 06:00:00", 2),  # exactly 4h before: out (with the same-time pair: 2)
        ("2024-03-01 06:00:00.000001", 3),  # 4h - 1us before: in
        ("2024-03-01 05:59:59.999999", 2),
        ("2024-03-01 10:00:00", 3),  # same time: in
    ],
)
def test_rank_path_window_edges(earlier, count):
    card = 4_111_222_233_334_444
    rows = pd.DataFrame({
        "tid": np.array([1, 2, 3], dtype=np.int64),
        "cc_num": np.array([card] * 3, dtype=np.int64),
        "datetime": pd.DatetimeIndex([utc(earlier), utc("2024-03-01 10:00"), utc("2024-03-01 10:00")]),
        "amount": [10.0, 20.0, 30.0],
        "loc_delta_t_minus_1": [1.0, 2.0, 3.0],
    })
    rows["datetime"] = rows["datetime"].astype("datetime64[us, UTC]")
    packed = window_aggregates(rows, start=START, end=END)
    ranked = window_aggregates(pd.concat([rows, far_rows(rows)], ignore_index=True), start=START, end=END)
    assert_bitwise_equal(ranked, packed)
    assert ranked.set_index("tid").loc[3, "trans_freq"] == count


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rows_per_pass", [1, 4, 37, 100])
def test_passes_over_sorted_rows_equal_one_pass_bit_for_bit(seed, rows_per_pass):
    """Sorted input (as the group is read) longer than `rows_per_pass` is cut by time into passes,
    many of them landing inside bursts, on same-time charges and on charges 4h and 4h - 1us apart."""
    features = window_group(seed)
    features = features.iloc[np.lexsort((features["tid"], features["datetime"]))].reset_index(drop=True)
    micros = features["datetime"].to_numpy(dtype="datetime64[us]").view(np.int64)
    start_us, end_us = (int(t.value // 1000) for t in (START, END))
    ranges = _passes(micros, start_us, end_us, 4 * HOUR_US, rows_per_pass)
    assert len(ranges) > 1 and len(ranges) * rows_per_pass >= len(features) // 2  # the passes, not one pass
    assert [(a, b) for a, b, *_ in ranges] == list(zip([start_us] + [b for _, b, *_ in ranges][:-1],
                                                         [b for _, b, *_ in ranges]))  # they tile [start, end)
    expected = window_aggregates(features, start=START, end=END, rows_per_pass=len(features))
    assert expected["trans_freq"].max() >= 3
    assert_bitwise_equal(window_aggregates(features, start=START, end=END, rows_per_pass=rows_per_pass), expected)
    shuffled = features.sample(frac=1.0, random_state=seed)  # unsorted: one pass, the same answer
    assert _passes(shuffled["datetime"].to_numpy(dtype="datetime64[us]").view(np.int64), start_us, end_us,
                   4 * HOUR_US, rows_per_pass) == []
    assert_bitwise_equal(window_aggregates(shuffled, start=START, end=END, rows_per_pass=rows_per_pass), expected)


def test_passes_need_a_positive_size():
    with pytest.raises(FeatureInputError, match="rows_per_pass must be at least 1"):
        window_aggregates(window_group(1), start=START, end=END, rows_per_pass=0)


# --- point in time ---------------------------------------------------------------------------------


def test_sorted_by_time_breaks_ties_by_the_tiebreak():
    times = np.array([1, 2, 2, 3], dtype=np.int64)
    assert sorted_by_time(times, np.array([9, 1, 5, 0]))
    assert not sorted_by_time(times, np.array([9, 5, 1, 0]))  # tie out of order
    assert not sorted_by_time(times, np.array([9, 5, 5, 0]))  # a tie not broken
    assert not sorted_by_time(np.array([2, 1]), np.array([0, 1]))
    assert sorted_by_time(np.array([5]), np.array([0])) and sorted_by_time(np.array([], dtype=np.int64), np.array([]))


@pytest.mark.parametrize("seed", range(4))
def test_group_time_order_is_the_same_for_sorted_and_shuffled_rows(seed):
    rng = np.random.default_rng(seed)
    n = 400
    keys = rng.integers(0, 9, n)
    times = np.sort(rng.integers(0, 40, n))  # many ties in time
    tiebreak = rng.permutation(n * 3)[:n]
    order = np.lexsort((tiebreak, times))
    keys, times, tiebreak = keys[order], times[order], tiebreak[order]  # sorted by (time, tiebreak)
    assert sorted_by_time(times, tiebreak) and not bool((times[1:] > times[:-1]).all())
    expected = np.lexsort((tiebreak, times, keys))
    np.testing.assert_array_equal(group_time_order(keys, times, tiebreak), expected)  # the no-sort path
    shuffle = rng.permutation(n)
    shuffled = group_time_order(keys[shuffle], times[shuffle], tiebreak[shuffle])
    np.testing.assert_array_equal(shuffle[shuffled], expected)
    previous = previous_positions(keys, expected)
    for position in expected[1:]:
        before = np.flatnonzero((keys == keys[position]) & ((times < times[position]) | (
            (times == times[position]) & (tiebreak < tiebreak[position]))))
        latest = before[np.lexsort((tiebreak[before], times[before]))][-1] if len(before) else -1
        assert previous[position] == latest


@pytest.mark.parametrize("seed", range(4))
def test_asof_positions_agree_whatever_the_right_sides_order_and_the_left_order_given(seed):
    """Keys already sorted (histories kept in key order) skip a sort; the answer stays the same,
    as it does with the caller's `left_order` and with an empty right side."""
    rng = np.random.default_rng(seed)
    left_keys, left_times = rng.integers(0, 20, 300), rng.integers(0, 100, 300)
    right_keys = rng.integers(0, 15, 120)
    right_times = rng.permutation(1000)[:120]  # distinct: no ties without a primary key
    by_key = np.argsort(right_keys, kind="stable")
    (unsorted,) = asof_positions(left_keys, left_times, [(right_keys, right_times, "r")])
    (ordered,) = asof_positions(left_keys, left_times, [(right_keys[by_key], right_times[by_key], "r")],
                                left_order=np.argsort(left_keys, kind="stable"))
    np.testing.assert_array_equal(np.where(ordered >= 0, by_key[np.maximum(ordered, 0)], -1), unsorted)
    for i in range(len(left_keys)):
        candidates = np.flatnonzero((right_keys == left_keys[i]) & (right_times <= left_times[i]))
        assert unsorted[i] == (candidates[np.argmax(right_times[candidates])] if len(candidates) else -1)
    (empty,) = asof_positions(left_keys, left_times, [(right_keys[:0], right_times[:0], "r")])
    assert (empty == -1).all()
