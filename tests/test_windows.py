"""The `transactions_4h_aggs` feature group: the (t - 4h, t] frame and its edges, same-time
charges, agreement with DuckDB's window query, no look-ahead, and the same bits whatever the
batch boundaries (backfill in one run == daily runs with a lookback)."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from feature_cases import HOUR_US, assert_bitwise_equal, random_raw_tables, run_in_chunks, utc

from feature_logic.inputs import FeatureInputError
from feature_logic.transactions import transaction_features
from feature_logic.windows import FEATURE_DESCRIPTIONS, WINDOW_FEATURE_COLUMNS, window_aggregates

CARD, OTHER_CARD = 4_111_222_233_334_444, 4_999_888_877_776_666
DAY_START, DAY_END = utc("2024-03-01"), utc("2024-03-02")


def group_rows(rows: list[tuple]) -> pd.DataFrame:
    """Rows of the `transactions` group from (tid, cc_num, datetime, amount, loc_delta) tuples."""
    tid, cc_num, when, amount, loc_delta = zip(*rows)
    return pd.DataFrame(
        {
            "tid": np.array(tid, dtype=np.int64),
            "cc_num": np.array(cc_num, dtype=np.int64),
            "datetime": pd.DatetimeIndex([utc(w) for w in when], dtype="datetime64[us, UTC]"),
            "amount": np.array(amount, dtype=np.float64),
            "loc_delta_t_minus_1": np.array(loc_delta, dtype=np.float64),
        }
    )


def aggregates_of(rows: list[tuple], **options) -> pd.DataFrame:
    return window_aggregates(group_rows(rows), start=DAY_START, end=DAY_END, **options).set_index("tid")


@pytest.mark.parametrize(
    ("earlier", "inside"),
    [
        ("2024-03-01 06:00:00", False),  # exactly 4h before: out
        ("2024-03-01 06:00:00.000001", True),  # 4h - 1us before: in
        ("2024-03-01 05:59:59.999999", False),
        ("2024-03-01 09:59:59.999999", True),
    ],
)
def test_window_edges(earlier, inside):
    aggregates = aggregates_of([(1, CARD, earlier, 10.0, 2.0), (2, CARD, "2024-03-01 10:00", 30.0, 4.0)])
    current = aggregates.loc[2]
    if inside:
        assert current["trans_freq"] == 2
        assert current["trans_volume_mavg"] == 20.0
        assert current["trans_volume_mstd"] == math.sqrt(200.0)
        assert current["loc_delta_mavg"] == 3.0
    else:
        assert current["trans_freq"] == 1
        current_values = (current["trans_volume_mavg"], current["trans_volume_mstd"], current["loc_delta_mavg"])
        assert current_values == (30.0, 0.0, 4.0)


def test_single_charge_has_zero_std():
    aggregates = aggregates_of([(1, CARD, "2024-03-01 10:00", 42.5, 7.0)])
    assert aggregates.loc[1].to_dict() == {
        "cc_num": CARD,
        "datetime": utc("2024-03-01 10:00"),
        "trans_volume_mavg": 42.5,
        "trans_volume_mstd": 0.0,
        "trans_freq": 1,
        "loc_delta_mavg": 7.0,
    }


def test_same_time_charges_all_see_each_other():
    aggregates = aggregates_of(
        [
            (1, CARD, "2024-03-01 08:00", 10.0, 0.0),
            (7, CARD, "2024-03-01 10:00", 20.0, 1.0),
            (3, CARD, "2024-03-01 10:00", 60.0, 5.0),
        ]
    )
    for tid in (3, 7):  # both tied rows see both, whatever their tid
        assert aggregates.loc[tid, "trans_freq"] == 3
        assert aggregates.loc[tid, "trans_volume_mavg"] == 30.0
        assert aggregates.loc[tid, "loc_delta_mavg"] == 2.0
    assert aggregates.loc[1, "trans_freq"] == 1


def test_cards_do_not_mix():
    aggregates = aggregates_of(
        [(1, CARD, "2024-03-01 10:00", 10.0, 1.0), (2, OTHER_CARD, "2024-03-01 10:30", 50.0, 9.0)]
    )
    assert aggregates["trans_freq"].tolist() == [1, 1]
    assert aggregates["trans_volume_mavg"].tolist() == [10.0, 50.0]


def test_known_mean_and_sample_std_over_a_burst():
    amounts = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    rows = [(i, CARD, f"2024-03-01 12:{10 * i // 2:02d}:{i:02d}", a, float(i)) for i, a in enumerate(amounts)]
    last = aggregates_of(rows).iloc[-1]
    assert last["trans_freq"] == 8
    assert last["trans_volume_mavg"] == 5.0
    assert last["trans_volume_mstd"] == pytest.approx(math.sqrt(32 / 7), rel=1e-15)
    assert last["loc_delta_mavg"] == 3.5


def test_only_rows_in_start_end_are_returned_and_lookback_rows_count():
    aggregates = window_aggregates(
        group_rows(
            [
                (1, CARD, "2024-02-29 22:00", 10.0, 0.0),  # lookback: in the window of tid 2, not returned
                (2, CARD, "2024-03-01 00:00", 20.0, 0.0),  # exactly at start: returned
                (3, CARD, "2024-03-02 00:00", 30.0, 0.0),  # exactly at end: not returned
            ]
        ),
        start=DAY_START,
        end=DAY_END,
    )
    assert aggregates["tid"].tolist() == [2]
    assert aggregates["trans_freq"].tolist() == [2]


def test_output_columns_dtypes_and_order():
    aggregates = window_aggregates(
        group_rows(
            [
                (5, CARD, "2024-03-01 10:00", 1.0, 0.0),
                (2, OTHER_CARD, "2024-03-01 10:00", 1.0, 0.0),
                (9, CARD, "2024-03-01 09:00", 1.0, 0.0),
            ]
        ),
        start=DAY_START,
        end=DAY_END,
    )
    assert tuple(aggregates.columns) == WINDOW_FEATURE_COLUMNS
    assert aggregates["tid"].tolist() == [9, 2, 5]  # by (datetime, tid)
    assert aggregates["trans_freq"].dtype == np.int64
    assert str(aggregates["datetime"].dtype) == "datetime64[us, UTC]"
    assert set(FEATURE_DESCRIPTIONS) == set(WINDOW_FEATURE_COLUMNS)
    assert all(text and "\n" not in text for text in FEATURE_DESCRIPTIONS.values())


def test_other_window_lengths():
    rows = [(1, CARD, "2024-03-01 09:00", 10.0, 0.0), (2, CARD, "2024-03-01 10:00", 30.0, 0.0)]
    assert aggregates_of(rows, window=dt.timedelta(hours=1)).loc[2, "trans_freq"] == 1
    assert aggregates_of(rows, window=dt.timedelta(hours=1, microseconds=1)).loc[2, "trans_freq"] == 2


def test_empty_range_gives_an_empty_frame():
    aggregates = window_aggregates(group_rows([(1, CARD, "2024-02-01", 1.0, 0.0)]), start=DAY_START, end=DAY_END)
    assert len(aggregates) == 0 and tuple(aggregates.columns) == WINDOW_FEATURE_COLUMNS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": dt.datetime(2024, 3, 1), "end": DAY_END}, "start: expected a timezone-aware datetime"),
        ({"start": DAY_END, "end": DAY_START}, "is before start"),
        ({"start": DAY_START, "end": DAY_END, "window": dt.timedelta(0)}, "window must be a positive"),
        ({"start": DAY_START, "end": DAY_END, "window": dt.timedelta(hours=-4)}, "window must be a positive"),
    ],
)
def test_bad_arguments_are_refused(options, message):
    with pytest.raises(FeatureInputError, match=message):
        window_aggregates(group_rows([(1, CARD, "2024-03-01 10:00", 1.0, 0.0)]), **options)


def test_bad_rows_are_refused_with_the_column_named():
    rows = group_rows([(1, CARD, "2024-03-01 10:00", 1.0, 0.0), (1, CARD, "2024-03-01 11:00", 1.0, 0.0)])
    with pytest.raises(FeatureInputError, match=r"features.tid.*e\.g\. \[1\]"):
        window_aggregates(rows, start=DAY_START, end=DAY_END)
    with pytest.raises(FeatureInputError, match=r"features: missing column\(s\) \['loc_delta_t_minus_1'\]"):
        window_aggregates(rows.drop(columns=["loc_delta_t_minus_1"]), start=DAY_START, end=DAY_END)


# --- properties on seeded random tables full of edge cases ---

START = utc("2024-03-01")


def random_group(seed: int, days: int = 4) -> pd.DataFrame:
    transactions, profiles, cards = random_raw_tables(seed, days=days)
    return transaction_features(transactions, profiles, cards)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_duckdbs_window_query(seed):
    features = random_group(seed)  # noqa: F841 - read by DuckDB below
    reference = duckdb.sql(
        """
        SELECT tid,
               avg(amount) OVER w AS mean, coalesce(stddev_samp(amount) OVER w, 0) AS std,
               count(*) OVER w AS freq, avg(loc_delta_t_minus_1) OVER w AS loc
        FROM features
        WINDOW w AS (PARTITION BY cc_num ORDER BY datetime
                     RANGE BETWEEN INTERVAL 4 HOURS - INTERVAL 1 MICROSECOND PRECEDING AND CURRENT ROW)
        """
    ).df().set_index("tid")
    ours = window_aggregates(features, start=START, end=START + pd.Timedelta(days=4)).set_index("tid")
    reference = reference.loc[ours.index]
    assert (ours["trans_freq"] == reference["freq"]).all()
    assert ours["trans_freq"].max() >= 5  # the tables do hold bursts
    np.testing.assert_allclose(ours["trans_volume_mavg"], reference["mean"], rtol=1e-12)
    np.testing.assert_allclose(ours["trans_volume_mstd"], reference["std"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours["loc_delta_mavg"], reference["loc"], rtol=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunk_days", [1, 2, 3])
def test_daily_runs_with_lookback_equal_one_backfill_bit_for_bit(seed, chunk_days):
    transactions, profiles, cards = random_raw_tables(seed, unknown_card=True)
    whole_features, whole_aggregates = run_in_chunks(transactions, profiles, cards, START, days=4, chunk_days=4)
    features, aggregates = run_in_chunks(transactions, profiles, cards, START, days=4, chunk_days=chunk_days)
    assert len(whole_aggregates) == len(transactions)
    assert_bitwise_equal(features, whole_features)
    assert_bitwise_equal(aggregates, whole_aggregates)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_aggregate_reads_a_later_charge(seed):
    features = random_group(seed)
    end = START + pd.Timedelta(days=4)
    everything = window_aggregates(features, start=START, end=end)
    for cutoff in everything["datetime"].iloc[[len(everything) // 4, len(everything) // 2]]:
        later = features["datetime"] > cutoff
        perturbed = features.copy()
        perturbed.loc[later, ["amount", "loc_delta_t_minus_1"]] = 1e6
        known = everything["datetime"] <= cutoff
        expected = everything[known].reset_index(drop=True)
        assert_bitwise_equal(window_aggregates(features[~later], start=START, end=end), expected)
        assert_bitwise_equal(window_aggregates(perturbed, start=START, end=end)[known].reset_index(drop=True), expected)


def test_row_order_and_extra_rows_outside_the_range_do_not_matter():
    features = random_group(seed=5)
    day = (START + pd.Timedelta(days=1), START + pd.Timedelta(days=2))
    expected = window_aggregates(
        features[(features["datetime"] >= day[0] - pd.Timedelta(hours=4)) & (features["datetime"] < day[1])],
        start=day[0],
        end=day[1],
    )
    shuffled = features.sample(frac=1.0, random_state=3)  # and every other day's rows as well
    assert_bitwise_equal(window_aggregates(shuffled, start=day[0], end=day[1]), expected)


def test_very_long_ranges_over_many_cards_give_the_same_answers():
    """Times spanning centuries over many cards no longer pack into int64 with microseconds; the
    window then works on time ranks and must give the same frames."""
    rng = np.random.default_rng(8)
    cards = np.repeat(np.arange(400, dtype=np.int64), 3)
    base = np.array([utc("1700-01-01").value // 1000, utc("2200-01-01").value // 1000], dtype=np.int64)
    micros = np.concatenate([[base[0], base[1], base[1] + HOUR_US] for _ in range(400)])
    features = pd.DataFrame(
        {
            "tid": np.arange(len(cards), dtype=np.int64),
            "cc_num": cards,
            "datetime": pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"),
            "amount": rng.uniform(1, 100, len(cards)).round(2),
            "loc_delta_t_minus_1": rng.uniform(0, 10, len(cards)),
        }
    )
    aggregates = (
        window_aggregates(features, start=utc("1600-01-01"), end=utc("2300-01-01")).set_index("tid").sort_index()
    )
    assert aggregates["trans_freq"].to_numpy().reshape(400, 3).tolist() == [[1, 1, 2]] * 400
    later = features.set_index("tid")["amount"].to_numpy().reshape(400, 3)
    assert np.array_equal(
        aggregates["trans_volume_mavg"].to_numpy().reshape(400, 3)[:, 2], (later[:, 1] + later[:, 2]) / 2
    )
