"""Small raw tables for the feature-logic tests: hand-made rows with known answers, seeded
random tables full of edge cases, the pipeline's chunk-by-chunk loop, and a bit-exact compare."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from feature_logic.schema import CATEGORIES
from feature_logic.transactions import PREVIOUS_COLUMNS, last_transaction_per_card, transaction_features
from feature_logic.windows import window_aggregates

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def utc(text: str) -> pd.Timestamp:
    """A UTC timestamp with microsecond resolution from an ISO string."""
    return pd.Timestamp(text, tz="UTC").as_unit("us")


def _utc_column(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([utc(v) if isinstance(v, str) else v for v in values], dtype="datetime64[us, UTC]")


def transactions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Raw transactions from (tid, cc_num, datetime, amount, latitude, longitude) tuples."""
    tid, cc_num, when, amount, latitude, longitude = zip(*rows) if rows else ([],) * 6
    return pd.DataFrame(
        {
            "tid": np.array(tid, dtype=np.int64),
            "cc_num": np.array(cc_num, dtype=np.int64),
            "datetime": _utc_column(when),
            "category": np.array([CATEGORIES[i % len(CATEGORIES)] for i in range(len(tid))], dtype=object),
            "amount": np.array(amount, dtype=np.float64),
            "latitude": np.array(latitude, dtype=np.float64),
            "longitude": np.array(longitude, dtype=np.float64),
        }
    )


def profiles_frame(rows: list[tuple]) -> pd.DataFrame:
    """Profile versions from (cc_num, city, event_time, birthdate, sex) tuples."""
    cc_num, city, event_time, birthdate, sex = zip(*rows)
    return pd.DataFrame(
        {
            "cc_num": np.array(cc_num, dtype=np.int64),
            "name": "Ada Lovelace",
            "sex": np.array(sex, dtype=object),
            "birthdate": [dt.date.fromisoformat(b) if isinstance(b, str) else b for b in birthdate],
            "city": np.array(city, dtype=object),
            "country": "FR",
            "event_time": _utc_column(event_time),
        }
    )


def cards_frame(rows: list[tuple]) -> pd.DataFrame:
    """Credit-card versions from (cc_num, expires, event_time) tuples."""
    cc_num, expires, event_time = zip(*rows)
    return pd.DataFrame(
        {
            "cc_num": np.array(cc_num, dtype=np.int64),
            "provider": "visa",
            "expires": [dt.date.fromisoformat(e) for e in expires],
            "event_time": _utc_column(event_time),
        }
    )


def random_raw_tables(
    seed: int, n_cards: int = 6, days: int = 4, per_day: int = 70, start: str = "2024-03-01",
    unknown_card: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded raw tables full of edge cases: bursts crossing midnight, same-time charges, charges
    exactly 4h and 4h - 1us apart, tids unrelated to time, owners who move, reissued cards, and with
    `unknown_card` a card with no profile or card version at all (its charges get nulls)."""
    rng = np.random.default_rng(seed)
    start_us = utc(start).value // 1000
    cards = 4_000_000_000_000_000 + rng.choice(10**12, n_cards, replace=False)
    n = per_day * days
    card = rng.integers(0, n_cards, n)
    micros = start_us + rng.integers(0, days * DAY_US // 1_000_000, n) * 1_000_000
    for day in range(1, days):  # bursts straddling each midnight
        burst = rng.choice(n, 6, replace=False)
        card[burst] = card[burst[0]]
        micros[burst] = start_us + day * DAY_US + rng.integers(-3 * HOUR_US, HOUR_US, 6)
    copies = rng.choice(n, n // 5, replace=False)
    originals = rng.choice(n, n // 5, replace=True)
    offsets = rng.choice(np.array([0, 4 * HOUR_US, 4 * HOUR_US - 1, 4 * HOUR_US + 1, 1]), n // 5)
    card[copies] = card[originals]
    micros[copies] = micros[originals] + offsets  # ties and exact window edges
    transactions = pd.DataFrame(
        {
            "tid": rng.choice(10**9, n, replace=False).astype(np.int64),
            "cc_num": cards[card].astype(np.int64),
            "datetime": pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"),
            "category": np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)],
            "amount": np.round(rng.lognormal(3.0, 1.2, n), 2),
            "latitude": rng.uniform(-60, 60, n),
            "longitude": rng.uniform(-180, 180, n),
        }
    )
    transactions = transactions[transactions["datetime"] < utc(start) + pd.Timedelta(days=days)]

    first_seen = np.full(n_cards, start_us - 400 * DAY_US)
    moves = rng.random(n_cards) < 0.7
    move_time = micros[rng.choice(n, n_cards)]  # some moves land exactly on a charge's time
    known = np.arange(n_cards) < n_cards - 1 if unknown_card else np.ones(n_cards, dtype=bool)
    profile_rows = [
        (c, f"City {i}", first_seen[i], f"{1950 + 7 * i}-0{1 + i % 9}-1{i % 9}", "FM"[i % 2])
        for i, c in enumerate(cards)
        if known[i]
    ]
    profile_rows += [
        (c, f"New City {i}", move_time[i], f"{1950 + 7 * i}-0{1 + i % 9}-1{i % 9}", "FM"[i % 2])
        for i, c in enumerate(cards)
        if moves[i] and known[i]
    ]
    profiles = profiles_frame([(c, city, _micros(t), b, s) for c, city, t, b, s in profile_rows])
    reissues = rng.random(n_cards) < 0.5
    reissue_time = micros[rng.choice(n, n_cards)]
    card_rows = [(c, f"2024-0{3 + i % 6}-2{i % 8}", first_seen[i]) for i, c in enumerate(cards) if known[i]]
    card_rows += [
        (c, f"2028-0{1 + i % 9}-28", reissue_time[i]) for i, c in enumerate(cards) if reissues[i] and known[i]
    ]
    credit_cards = cards_frame([(c, expires, _micros(t)) for c, expires, t in card_rows])
    permutation = rng.permutation
    return (
        transactions.iloc[permutation(len(transactions))].reset_index(drop=True),
        profiles.iloc[permutation(len(profiles))].reset_index(drop=True),
        credit_cards.iloc[permutation(len(credit_cards))].reset_index(drop=True),
    )


def _micros(value: int) -> pd.Timestamp:
    return pd.Timestamp(int(value), unit="us", tz="UTC")


def run_in_chunks(
    transactions: pd.DataFrame,
    profiles: pd.DataFrame,
    credit_cards: pd.DataFrame,
    start: pd.Timestamp,
    days: int,
    chunk_days: int,
    window: dt.timedelta = dt.timedelta(hours=4),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both feature groups computed the way the pipeline does: chunk by chunk, each chunk's
    `previous` read from the rows written so far and its window lookback from them too."""
    written = pd.DataFrame()
    aggregates = []
    for first_day in range(0, days, chunk_days):
        chunk_start = start + pd.Timedelta(days=first_day)
        chunk_end = start + pd.Timedelta(days=min(first_day + chunk_days, days))
        in_chunk = (transactions["datetime"] >= chunk_start) & (transactions["datetime"] < chunk_end)
        before = written[written["datetime"] < chunk_start] if len(written) else None
        previous = (
            last_transaction_per_card(before[list(PREVIOUS_COLUMNS)]) if before is not None and len(before) else None
        )
        features = transaction_features(transactions[in_chunk], profiles, credit_cards, previous)
        written = pd.concat([written, features], ignore_index=True) if len(written) else features
        lookback = written[(written["datetime"] >= chunk_start - window) & (written["datetime"] < chunk_end)]
        aggregates.append(window_aggregates(lookback, start=chunk_start, end=chunk_end, window=window))
    return written, pd.concat(aggregates, ignore_index=True)


def assert_bitwise_equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns, dtypes and rows, floats compared by their bits (NaN == NaN, 0.0 != -0.0)."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for column in left.columns:
        assert left[column].dtype == right[column].dtype, column
        a, b = left[column].to_numpy(), right[column].to_numpy()
        if a.dtype == np.float64:
            mismatched = np.flatnonzero(a.view(np.int64) != b.view(np.int64))
        elif a.dtype == object:
            mismatched = np.flatnonzero([x != y and not (x is None and y is None) for x, y in zip(a, b)])
        else:
            mismatched = np.flatnonzero(a != b)
        assert len(mismatched) == 0, (
            f"{column} differs at rows {mismatched[:5].tolist()}: {a[mismatched[:3]]} vs {b[mismatched[:3]]}"
        )
