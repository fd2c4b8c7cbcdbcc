"""The `transactions_4h_aggs` feature group: per charge, aggregates over its card's charges in
the window (t - 4h, t].

Each aggregate is reduced in an order fixed by the window's own rows (oldest first, by
(datetime, tid)), so a backfill over many days and daily runs with a lookback give the same
bits; SQL window `avg`/`stddev_samp` do not promise that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from feature_logic.inputs import (
    FeatureInputError,
    float64_values,
    id_order,
    int64_keys,
    require_columns,
    require_unique,
    transaction_ids,
    utc_instant_microseconds,
    utc_microseconds,
)
from feature_logic.point_in_time import group_time_order, run_stops, sorted_by_time

#: One line per output column of `window_aggregates`, in output order.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "tid": "Transaction id (primary key).",
    "cc_num": "The card the charge was made with: its keyed token in every stored table.",
    "datetime": "Event time of the charge (UTC, microseconds).",
    "trans_volume_mavg": "Mean amount of the card's charges in (t - 4h, t], same-time charges included.",
    "trans_volume_mstd": (
        "Sample standard deviation of the card's amounts in (t - 4h, t]; 0 when the window holds one charge."
    ),
    "trans_freq": "Number of the card's charges in (t - 4h, t], this one and same-time ones included.",
    "loc_delta_mavg": "Mean of loc_delta_t_minus_1 (km) over the card's charges in (t - 4h, t].",
}

WINDOW_FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)

DEFAULT_WINDOW = timedelta(hours=4)

#: The columns of the `transactions` feature group that `window_aggregates` reads.
WINDOW_INPUT_COLUMNS: tuple[str, ...] = ("tid", "cc_num", "datetime", "amount", "loc_delta_t_minus_1")
_ONE_MICROSECOND = timedelta(microseconds=1)


#: Output rows one pass of `window_aggregates` handles at most (about half a day of a 100k-card bank):
#: on sorted input a longer range is cut by time into passes of this size, whose arrays stay in the CPU
#: caches (over 1M rows, one pass took 0.34-0.53 s, passes of 2^16 rows 0.20-0.27 s, of 2^17 0.25-0.28 s,
#: of 2^18 0.31-0.33 s). The result does not depend on it.
ROWS_PER_PASS = 1 << 16


def window_aggregates(
    features: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    window: timedelta = DEFAULT_WINDOW,
    rows_per_pass: int = ROWS_PER_PASS,
) -> pd.DataFrame:
    """One row per charge with datetime in [start, end), sorted by (datetime, tid), aggregating its
    card's charges in (datetime - window, datetime].

    `features` are rows of the `transactions` feature group covering [start - window, end);
    rows outside that range are allowed and never change the result. Input sorted by time is
    handled in passes of about `rows_per_pass` rows, which changes the speed, never the bits.
    """
    require_columns(features, WINDOW_INPUT_COLUMNS, "features")
    start_us = utc_instant_microseconds(start, "start")
    end_us = utc_instant_microseconds(end, "end")
    if end_us < start_us:
        raise FeatureInputError(f"window_aggregates: end {end} is before start {start}")
    window_us = _window_microseconds(window)
    if rows_per_pass < 1:
        raise FeatureInputError(f"rows_per_pass must be at least 1, got {rows_per_pass!r}")
    tid = transaction_ids(features, "tid", "features")
    (tie,) = id_order(tid)  # ties in time: by tid, numeric or lexicographic
    require_unique(tie, features.index, "features.tid", shown=tid)
    rows = {
        "tid": tid,
        "tie": tie,
        "cards": int64_keys(features, "cc_num", "features"),
        "micros": utc_microseconds(features, "datetime", "features"),
        "amount": float64_values(features, "amount", "features"),
        "loc_delta": float64_values(features, "loc_delta_t_minus_1", "features"),
    }
    ranges = _passes(rows["micros"], start_us, end_us, window_us, rows_per_pass) or [(start_us, end_us, 0, None)]
    done = [_one_pass({name: values[first:stop] for name, values in rows.items()}, pass_start, pass_end, window_us)
            for pass_start, pass_end, first, stop in ranges]
    columns = done[0] if len(done) == 1 else {name: np.concatenate([d[name] for d in done]) for name in done[0]}
    return pd.DataFrame(
        {
            **columns,
            "datetime": pd.DatetimeIndex(columns["datetime"].view("datetime64[us]")).tz_localize("UTC"),
        },
        columns=list(WINDOW_FEATURE_COLUMNS),
        copy=False,  # fresh arrays: no need for pandas to copy them into 2-D blocks
    )


def _passes(
    micros: np.ndarray, start_us: int, end_us: int, window_us: int, rows_per_pass: int
) -> list[tuple[int, int, int, int | None]]:
    """(start, end, first row, stop row) of each pass over rows sorted by time: consecutive output
    ranges of about `rows_per_pass` rows each, cut between distinct times, each with the rows of its
    range and of the window before it. Empty when the rows are not sorted by time or fit one pass."""
    if len(micros) <= rows_per_pass or not bool((micros[1:] >= micros[:-1]).all()):
        return []
    first_out, stop_out = np.searchsorted(micros, [start_us, end_us], side="left")
    cuts = np.unique(micros[first_out + rows_per_pass : stop_out : rows_per_pass])
    bounds = [start_us, *cuts.tolist(), end_us]
    ranges = list(zip(bounds[:-1], bounds[1:]))
    firsts = np.searchsorted(micros, [a - window_us for a, _ in ranges], side="left")
    stops = np.searchsorted(micros, [b for _, b in ranges], side="left")
    return [(a, b, int(first), int(stop)) for (a, b), first, stop in zip(ranges, firsts, stops)]


def _one_pass(rows: dict[str, np.ndarray], start_us: int, end_us: int, window_us: int) -> dict[str, np.ndarray]:
    """The output columns (datetime as int64 microseconds) for the rows with time in [start_us, end_us)."""
    tid, tie, cards, micros = rows["tid"], rows["tie"], rows["cards"], rows["micros"]
    order = group_time_order(cards, micros, tie)
    sorted_cards, sorted_micros = cards[order], micros[order]
    wanted = np.flatnonzero((sorted_micros >= start_us) & (sorted_micros < end_us))
    first, stop = _frame_bounds(sorted_cards, sorted_micros, wanted, window_us)
    mean_amount, std_amount, mean_loc_delta = _frame_reductions(rows["amount"][order], rows["loc_delta"][order],
                                                                first, stop)

    chosen = order[wanted]
    if sorted_by_time(micros, tie):  # the usual input (lookback, then batch): a scatter restores it
        rank_of_row = np.full(len(micros), -1, dtype=np.int64)
        rank_of_row[chosen] = np.arange(len(chosen))
        output_order = rank_of_row[rank_of_row >= 0]
    else:
        output_order = np.lexsort((tie[chosen], micros[chosen]))
    chosen = chosen[output_order]
    return {
        "tid": tid[chosen],
        "cc_num": cards[chosen],
        "datetime": micros[chosen],
        "trans_volume_mavg": mean_amount[output_order],
        "trans_volume_mstd": std_amount[output_order],
        "trans_freq": (stop - first)[output_order].astype(np.int64),
        "loc_delta_mavg": mean_loc_delta[output_order],
    }


def _window_microseconds(window: timedelta) -> int:
    if not isinstance(window, timedelta) or window <= timedelta(0) or window % _ONE_MICROSECOND:
        raise FeatureInputError(f"window must be a positive whole number of microseconds, got {window!r}")
    return window // _ONE_MICROSECOND


def _frame_bounds(
    sorted_cards: np.ndarray, sorted_micros: np.ndarray, wanted: np.ndarray, window_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """[first, stop) positions of each wanted row's frame in rows sorted by (card, time, tid).

    The frame holds the card's rows with time in (t - window, t], ties at t included. Card and
    time pack into one ascending int64 key: the start is a binary search, the end the end of the
    row's run of equal keys.
    """
    if len(wanted) == 0:
        return wanted.copy(), wanted.copy()
    card_rank = np.zeros(len(sorted_cards), dtype=np.int64)
    np.cumsum(sorted_cards[1:] != sorted_cards[:-1], out=card_rank[1:])
    times, oldest_inside, span = _time_coordinates(sorted_micros, wanted, window_us, int(card_rank[-1]) + 1)
    key = card_rank * span + times
    first = np.searchsorted(key, card_rank[wanted] * span + oldest_inside, side="left")
    return first, run_stops(key)[wanted]


def _time_coordinates(
    sorted_micros: np.ndarray, wanted: np.ndarray, window_us: int, n_cards: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Times as small non-negative ints, the smallest coordinate inside each wanted row's window,
    and a span exceeding every coordinate and window, such that n_cards * span fits in int64.

    Microseconds since the earliest row when they fit (the usual case: a day or a few months);
    otherwise the rank among distinct times.
    """
    earliest = int(sorted_micros.min())
    relative = sorted_micros - earliest
    span = int(relative.max()) + window_us + 1
    if n_cards * span < 2**62:
        return relative, relative[wanted] - (window_us - 1), span
    distinct = np.unique(sorted_micros)
    ranks = np.searchsorted(distinct, sorted_micros)
    oldest_inside = np.searchsorted(distinct, sorted_micros[wanted] - window_us, side="right")
    return ranks, oldest_inside, len(distinct) + 1


def _frame_reductions(
    amount: np.ndarray, loc_delta: np.ndarray, first: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample std (two-pass) of amount, and mean of loc_delta, over each frame [first, stop).

    Sums run from the frame's oldest row to its newest, whatever rows surround the frame, so a
    frame's result depends on its own values only. One-row frames need no arithmetic; longer
    ones are visited longest first, so step k touches only the frames holding more than k rows.
    """
    sizes = stop - first
    amount_sum = amount[first]
    loc_delta_sum = loc_delta[first]
    amount_std = np.zeros(len(sizes))
    several = np.flatnonzero(sizes > 1)
    several = several[np.argsort(-sizes[several], kind="stable")]
    several_sizes, several_first = sizes[several], first[several]
    longest = int(several_sizes[0]) if len(several) else 0
    longer_than = np.searchsorted(-several_sizes, -np.arange(longest), side="left")  # frames with > k rows

    partial_amount, partial_loc_delta = amount_sum[several], loc_delta_sum[several]
    for step in range(1, longest):
        count = longer_than[step]
        rows = several_first[:count] + step
        partial_amount[:count] += amount[rows]
        partial_loc_delta[:count] += loc_delta[rows]
    amount_sum[several], loc_delta_sum[several] = partial_amount, partial_loc_delta
    amount_mean = amount_sum / sizes

    several_mean = amount_mean[several]
    squared_deviations = np.zeros(len(several))
    for step in range(longest):
        count = longer_than[step]
        deviation = amount[several_first[:count] + step] - several_mean[:count]
        squared_deviations[:count] += deviation * deviation
    amount_std[several] = np.sqrt(squared_deviations / (several_sizes - 1))
    return amount_mean, amount_std, loc_delta_sum / sizes
