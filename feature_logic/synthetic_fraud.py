"""Injected fraud patterns whose signal lives in per-card window features: chain attacks
(bursts of small charges within minutes) and impossible travel (a charge thousands of km from
the card's previous one within two hours)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from feature_logic import synthetic_reference as ref
from feature_logic.synthetic_population import (
    DAY_US,
    MINUTE_US,
    SECOND_US,
    Charges,
    Population,
    day_start_us,
    place_near,
)

CHAIN_ATTACK_SIZES = (3, 10)  # charges per burst, inclusive
CHAIN_ATTACK_MAX_GAP_US = 60 * SECOND_US  # a whole burst lasts under ten minutes
TRAVEL_DELAY_US = (10 * MINUTE_US, 120 * MINUTE_US)  # after the card's genuine charge
TRAVEL_MIN_DISTANCE_KM = 2_500.0  # from every city the owner lives in during the horizon


def chain_attacks(
    rng: np.random.Generator, population: Population, target_rows: float, day: dt.date
) -> tuple[Charges, np.ndarray]:
    """Bursts of 3-10 small charges seconds apart on one card, near its owner (a cloned or
    tested card); about `target_rows` charges in all. Returns the charges and each one's burst."""
    low, high = CHAIN_ATTACK_SIZES
    n_bursts = int(np.floor(target_rows / ((low + high) / 2) + rng.random()))
    size = rng.integers(low, high + 1, n_bursts)
    burst = np.repeat(np.arange(n_bursts), size)
    first_row = np.cumsum(size) - size
    n = len(burst)

    victim = rng.integers(0, len(population.cc_num), n_bursts)
    burst_span_us = (high - 1) * (CHAIN_ATTACK_MAX_GAP_US + 5 * SECOND_US)
    burst_start_us = day_start_us(day) + rng.integers(0, DAY_US - burst_span_us, n_bursts)
    gap_us = 5 * SECOND_US + np.minimum(rng.exponential(40 * SECOND_US, n), CHAIN_ATTACK_MAX_GAP_US)
    gap_us = gap_us.astype(np.int64)
    gap_us[first_row] = 0
    elapsed_us = np.cumsum(gap_us)
    elapsed_us -= np.repeat(elapsed_us[first_row], size)

    card = victim[burst]
    time_us = burst_start_us[burst] + elapsed_us
    category = ref.CHAIN_ATTACK_CATEGORIES[_draw(rng, ref.CHAIN_ATTACK_CATEGORY_WEIGHTS, n)]
    amount = np.round(np.clip(rng.lognormal(np.log(6.0), 0.7, n), 0.5, 80.0), 2)
    latitude, longitude = population.near_owner(rng, card, time_us)
    return Charges(card, time_us, category, amount, latitude, longitude), burst


def impossible_travel(
    rng: np.random.Generator, population: Population, genuine: Charges, target_rows: int, day: dt.date
) -> Charges:
    """Up to `target_rows` charges, each on a different card, 10-120 minutes after one of its
    genuine charges of the day and >= 2,500 km from any city its owner lives in."""
    day_end_us = day_start_us(day) + DAY_US
    early_enough = np.flatnonzero(genuine.time_us < day_end_us - TRAVEL_DELAY_US[0] - SECOND_US)
    sample_size = min(len(early_enough), 2 * target_rows + 64)  # spare rows for repeated cards
    sample = early_enough[rng.choice(len(early_enough), sample_size, replace=False)]
    _, first = np.unique(genuine.card[sample], return_index=True)
    anchor = sample[np.sort(first)][:target_rows]  # one genuine charge on each of distinct cards
    n = len(anchor)

    card = genuine.card[anchor]
    room_us = np.minimum(TRAVEL_DELAY_US[1], day_end_us - 1 - genuine.time_us[anchor])
    delay_us = TRAVEL_DELAY_US[0] + (rng.random(n) * (room_us - TRAVEL_DELAY_US[0])).astype(np.int64)
    time_us = genuine.time_us[anchor] + delay_us
    far_enough = (ref.CITY_DISTANCE_KM[population.home_city[card]] > TRAVEL_MIN_DISTANCE_KM) & (
        ref.CITY_DISTANCE_KM[population.new_city[card]] > TRAVEL_MIN_DISTANCE_KM
    )
    city = np.argmax(rng.random(far_enough.shape) * far_enough, axis=1)  # uniform among the far
    category = ref.TRAVEL_FRAUD_CATEGORIES[_draw(rng, ref.TRAVEL_FRAUD_CATEGORY_WEIGHTS, n)]
    amount = np.round(np.clip(rng.lognormal(np.log(350.0), 0.8, n), 20.0, 20_000.0), 2)
    latitude, longitude = place_near(rng, city, 0.0, 0.0)
    keep = far_enough.any(axis=1)  # every pair of cities has far ones today; stay safe anyway
    return Charges(card[keep], time_us[keep], category[keep], amount[keep], latitude[keep], longitude[keep])


def _draw(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """`n` indices drawn with the given relative weights."""
    return np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right")
