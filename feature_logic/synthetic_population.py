"""The synthetic card holders: cards, owners, their homes, moves, reissues and spending habits,
and the genuine charges they make. Owners and habits are drawn once from (seed, n_cards); moves
and reissues period by period (`n_days` days each), so they keep unfolding for any range."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from feature_logic import synthetic_reference as ref
from feature_logic.schema import CATEGORIES, PROVIDERS
from feature_logic.synthetic_config import SyntheticConfig

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
NO_EVENT_US = np.iinfo(np.int64).max  # "never" for owners who do not move
MAX_GENUINE_AMOUNT = 10_000.0  # a genuine charge never exceeds this
_EPOCH = dt.date(1970, 1, 1)
_KM_PER_DEGREE = 111.32
_CARD_VALIDITY_DAYS = 4 * 365
# Independent random streams of the entities; a day's stream is keyed by its date instead.
_CARDS_STREAM, _OWNERS_STREAM, _HABITS_STREAM, _EVENTS_STREAM = 1, 2, 3, 4


def entity_rng(config: SyntheticConfig, stream: int, *period: int) -> np.random.Generator:
    """The random stream of one part of the entities, keyed by (seed, n_cards, stream) and, for
    the events of a later period, its number."""
    spawn_key = (0, config.n_cards, stream, *period)
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=spawn_key))


def day_start_us(day: dt.date) -> int:
    """Microseconds since the Unix epoch at 00:00 UTC of `day`."""
    return (day - _EPOCH).days * DAY_US


@dataclass(frozen=True)
class Charges:
    """Rows of charges as parallel arrays; `card` indexes the population, times are epoch µs."""

    card: np.ndarray
    time_us: np.ndarray
    category: np.ndarray
    amount: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray

    def __len__(self) -> int:
        return len(self.card)


@dataclass(frozen=True)
class Population:
    """Per-card arrays (index i is one card and its owner) with everything a day needs, as they
    are during one period of `n_days` days: the card and city at its start and its events."""

    cc_num: np.ndarray  # int64, 16 digits, Luhn-valid
    provider: np.ndarray  # index into PROVIDERS
    issue_us: np.ndarray  # issue of the card valid at the period's start (period 0: before it)
    expires_day: np.ndarray  # datetime64[D], last valid day of that issue
    reissue_us: np.ndarray  # reissue inside the period, or NO_EVENT_US
    reissue_expires_day: np.ndarray  # datetime64[D], expiry of the reissued card
    first_name: np.ndarray
    last_name: np.ndarray
    sex: np.ndarray  # "F" / "M"
    birthdate: np.ndarray  # datetime64[D]
    home_city: np.ndarray  # index into CITIES at the period's start
    new_city: np.ndarray  # city after the period's move (the home city for owners who stay)
    move_us: np.ndarray  # time of the move inside the period, or NO_EVENT_US
    offset_north_km: np.ndarray  # where in town the owner shops, relative to the centre
    offset_east_km: np.ndarray
    activity_cdf: np.ndarray  # cumulative share of the day's charges made by cards 0..i
    category_cdf: np.ndarray  # [card, category] cumulative preference of each owner
    log_median_amount: np.ndarray  # [card, category] log of the owner's median charge

    def city_at(self, card: np.ndarray, time_us: np.ndarray | int) -> np.ndarray:
        """Each card's owner's city at the given times of the period (the new city from the move on)."""
        return np.where(time_us >= self.move_us[card], self.new_city[card], self.home_city[card])

    def near_owner(
        self, rng: np.random.Generator, card: np.ndarray, time_us: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of charges in the part of town where each owner shops, at the city the
        owner lives in at each time."""
        city = self.city_at(card, time_us)
        return place_near(rng, city, self.offset_north_km[card], self.offset_east_km[card])


def build_population(config: SyntheticConfig) -> Population:
    """Draw every card, owner and habit of `config`, and the events of its first period (the
    `n_days` from `start_date`); the same config gives the same arrays."""
    n = config.n_cards
    start_us, end_us = day_start_us(config.start_date), day_start_us(config.end_date)

    rng = entity_rng(config, _CARDS_STREAM)
    provider = rng.integers(0, len(PROVIDERS), n)
    cc_num = _card_numbers(rng, provider)
    issue_us = start_us - _seconds_us(rng, 30 * 86_400, 3 * 365 * 86_400, n)
    expires_day = _end_of_month(_to_day(issue_us) + _CARD_VALIDITY_DAYS)

    rng = entity_rng(config, _OWNERS_STREAM)
    sex = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
    first_f = np.asarray(ref.FEMALE_NAMES, dtype=object)[rng.integers(0, len(ref.FEMALE_NAMES), n)]
    first_m = np.asarray(ref.MALE_NAMES, dtype=object)[rng.integers(0, len(ref.MALE_NAMES), n)]
    first_name = np.where(sex == "F", first_f, first_m)
    last_name = np.asarray(ref.LAST_NAMES, dtype=object)[rng.integers(0, len(ref.LAST_NAMES), n)]
    age_days = rng.integers(18 * 365 + 5, 85 * 365, n)
    birthdate = np.datetime64(config.start_date, "D") - age_days.astype("m8[D]")
    home_city = rng.integers(0, len(ref.CITIES), n)

    rng = entity_rng(config, _HABITS_STREAM)
    activity = rng.gamma(1.5, 1.0, n)
    activity_cdf = np.cumsum(activity) / activity.sum()
    activity_cdf[-1] = 1.0
    preference = ref.CATEGORY_SHARE * np.exp(rng.normal(0.0, 0.8, (n, len(CATEGORIES))))
    category_cdf = np.cumsum(preference, axis=1)
    category_cdf /= category_cdf[:, -1:]
    category_cdf[:, -1] = 1.0
    wealth = rng.normal(0.0, 0.4, (n, 1))
    taste = rng.normal(0.0, 0.25, (n, len(CATEGORIES)))
    log_median_amount = np.log(ref.CATEGORY_MEDIAN_AMOUNT) + wealth + taste
    offset_north_km = np.clip(rng.normal(0.0, 4.0, n), -10.0, 10.0)
    offset_east_km = np.clip(rng.normal(0.0, 4.0, n), -10.0, 10.0)

    move_us, new_city, reissue_us, reissue_expires_day = _period_events(
        entity_rng(config, _EVENTS_STREAM), config, start_us, end_us, home_city, expires_day
    )
    population = Population(
        cc_num=cc_num, provider=provider, issue_us=issue_us, expires_day=expires_day,
        reissue_us=reissue_us, reissue_expires_day=reissue_expires_day, first_name=first_name,
        last_name=last_name, sex=sex, birthdate=birthdate, home_city=home_city, new_city=new_city,
        move_us=move_us, offset_north_km=offset_north_km, offset_east_km=offset_east_km,
        activity_cdf=activity_cdf, category_cdf=category_cdf, log_median_amount=log_median_amount,
    )  # fmt: skip
    return _frozen(population)


def next_period(config: SyntheticConfig, previous: Population, period: int) -> Population:
    """The entities during period `period` (>= 1): the card and city each owner ends the period
    before with, and this period's moves and reissues, drawn from a stream of its own."""
    start_us = day_start_us(config.start_date) + period * config.n_days * DAY_US
    end_us = start_us + config.n_days * DAY_US
    reissued = previous.reissue_us != NO_EVENT_US
    issue_us = np.where(reissued, previous.reissue_us, previous.issue_us)
    expires_day = np.where(reissued, previous.reissue_expires_day, previous.expires_day)
    home_city = previous.new_city
    move_us, new_city, reissue_us, reissue_expires_day = _period_events(
        entity_rng(config, _EVENTS_STREAM, period), config, start_us, end_us, home_city, expires_day
    )
    return _frozen(replace(
        previous, issue_us=issue_us, expires_day=expires_day, reissue_us=reissue_us,
        reissue_expires_day=reissue_expires_day, home_city=home_city, new_city=new_city, move_us=move_us,
    ))  # fmt: skip


def _period_events(
    rng: np.random.Generator, config: SyntheticConfig, start_us: int, end_us: int, home_city: np.ndarray,
    expires_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Moves and reissues in [start_us, end_us): `move_share` of owners move to another city; a
    card expiring in the period is reissued in its last 30 days, `reissue_share` of the others
    at any time. Returns move_us, new_city, reissue_us, reissue_expires_day."""
    n = len(home_city)
    moves = rng.random(n) < config.move_share
    horizon_s = (end_us - start_us) // SECOND_US
    move_us = np.where(moves, start_us + _seconds_us(rng, 0, horizon_s, n), NO_EVENT_US)
    new_city = np.where(moves, (home_city + rng.integers(1, len(ref.CITIES), n)) % len(ref.CITIES), home_city)
    expires_us = (expires_day.astype(np.int64) + 1) * DAY_US  # end of the last valid day
    expiring = expires_us <= end_us  # such cards are reissued in the 30 days before expiry
    renew_from = np.maximum(start_us, expires_us - 30 * DAY_US)
    renew_us = renew_from + (rng.random(n) * (expires_us - renew_from)).astype(np.int64)
    renew_us -= renew_us % SECOND_US
    early = rng.random(n) < config.reissue_share
    early_us = start_us + _seconds_us(rng, 0, horizon_s, n)
    reissue_us = np.where(expiring, renew_us, np.where(early, early_us, NO_EVENT_US))
    reissue_expires_day = _end_of_month(_to_day(np.minimum(reissue_us, end_us)) + _CARD_VALIDITY_DAYS)
    return move_us, new_city, reissue_us, reissue_expires_day


def _frozen(population: Population) -> Population:
    """The population with read-only arrays: they are shared by every day generated from it."""
    for array in vars(population).values():
        array.setflags(write=False)
    return population


def _history(periods: Sequence[Population], until_us: int, initial: np.ndarray, event: str,
             value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(card index, event time, value) of each card's first issue with `initial`, then of every event
    (`event` times, `value` values) of the given periods before `until_us`, by cc_num then time."""
    first = periods[0]
    card, event_us, values = [np.arange(len(first.cc_num))], [first.issue_us], [initial]
    for population in periods:
        happened = np.flatnonzero(getattr(population, event) < until_us)  # NO_EVENT_US never is
        card.append(happened)
        event_us.append(getattr(population, event)[happened])
        values.append(getattr(population, value)[happened])
    card, event_us, values = np.concatenate(card), np.concatenate(event_us), np.concatenate(values)
    order = np.lexsort((event_us, first.cc_num[card]))
    return card[order], event_us[order], values[order]


def credit_cards_frame(periods: Sequence[Population], until_us: int) -> pd.DataFrame:
    """The `credit_cards` table up to `until_us` (exclusive): one row per first issue and one per
    reissue of the given consecutive periods, by cc_num then time."""
    first = periods[0]
    card, event_us, expires = _history(periods, until_us, first.expires_day, "reissue_us", "reissue_expires_day")
    return pd.DataFrame(
        {
            "cc_num": first.cc_num[card],
            "provider": np.asarray(PROVIDERS, dtype=object)[first.provider[card]],
            "expires": expires.astype(object),
            "event_time": utc_timestamps(event_us),
        }
    )


def profiles_frame(periods: Sequence[Population], until_us: int) -> pd.DataFrame:
    """The `profiles` table up to `until_us` (exclusive): each owner as of the card's first issue,
    plus a row per move of the given consecutive periods, by cc_num then time."""
    first = periods[0]
    card, event_us, city = _history(periods, until_us, first.home_city, "move_us", "new_city")
    return pd.DataFrame(
        {
            "cc_num": first.cc_num[card],
            "name": first.first_name[card] + " " + first.last_name[card],
            "sex": first.sex[card],
            "birthdate": first.birthdate[card].astype(object),
            "city": ref.CITY_NAMES[city],
            "country": ref.CITY_COUNTRIES[city],
            "event_time": utc_timestamps(event_us),
        }
    )


def habitual_charges(rng: np.random.Generator, population: Population, n: int, day: dt.date) -> Charges:
    """`n` genuine charges on `day`: busy owners charge more, at local daytime, in their
    favourite categories, at amounts typical of them, near their city of the moment."""
    start_us = day_start_us(day)
    # Sorted uniforms make the lookup cache-friendly; row order is irrelevant (sorted by time later).
    card = np.searchsorted(population.activity_cdf, np.sort(rng.random(n)), side="right")
    hour_cdf = np.cumsum(ref.HOUR_WEIGHTS) / ref.HOUR_WEIGHTS.sum()
    local_us = np.searchsorted(hour_cdf, rng.random(n), side="right") * HOUR_US + rng.integers(0, HOUR_US, n)
    utc_offset_us = ref.CITY_UTC_OFFSET_US[population.city_at(card, start_us)]
    time_us = start_us + (local_us - utc_offset_us) % DAY_US  # the local rhythm, kept inside the UTC day

    category = (rng.random((n, 1)) >= population.category_cdf[card]).sum(axis=1)
    spread = ref.CATEGORY_AMOUNT_SIGMA[category] * rng.standard_normal(n)
    amount = np.clip(np.exp(population.log_median_amount[card, category] + spread), 1.0, MAX_GENUINE_AMOUNT)
    cash = category == ref.CASH_WITHDRAWAL
    amount = np.where(cash, np.maximum(10.0, np.round(amount, -1)), np.round(amount, 2))

    latitude, longitude = population.near_owner(rng, card, time_us)
    return Charges(card, time_us, category, amount, latitude, longitude)


def place_near(
    rng: np.random.Generator, city: np.ndarray, north_km: np.ndarray | float, east_km: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates a few km around (centre + offset) of each city: within ~20 km of the centre."""
    n = len(city)
    north = north_km + np.clip(rng.normal(0.0, 3.0, n), -9.0, 9.0)
    east = east_km + np.clip(rng.normal(0.0, 3.0, n), -9.0, 9.0)
    latitude = ref.CITY_LAT[city] + north / _KM_PER_DEGREE
    longitude = ref.CITY_LON[city] + east / (_KM_PER_DEGREE * np.cos(np.radians(latitude)))
    return latitude, longitude


def utc_timestamps(time_us: np.ndarray) -> pd.Series:
    """Epoch microseconds as a pandas `datetime64[us, UTC]` column."""
    return pd.Series(np.asarray(time_us, dtype=np.int64).view("M8[us]")).dt.tz_localize("UTC")


def _card_numbers(rng: np.random.Generator, provider: np.ndarray) -> np.ndarray:
    """Distinct Luhn-valid 16-digit numbers: visa 4xxx, mastercard 51xx-55xx."""
    n = len(provider)
    visa = provider == PROVIDERS.index("visa")
    prefix = np.where(visa, 40 + rng.integers(0, 10, n), 51 + rng.integers(0, 5, n))
    body = prefix * 10**13 + rng.integers(0, 10**13, n)  # 15 digits before the check digit
    while True:  # redraw the rare repeats until every number is distinct
        _, first = np.unique(body, return_index=True)
        repeat = np.ones(n, dtype=bool)
        repeat[first] = False
        if not repeat.any():
            break
        body[repeat] = prefix[repeat] * 10**13 + rng.integers(0, 10**13, int(repeat.sum()))
    return body * 10 + _luhn_check_digit(body)


def _luhn_check_digit(body: np.ndarray) -> np.ndarray:
    """The digit that makes `body * 10 + digit` pass the Luhn check."""
    digits = np.empty((len(body), 15), dtype=np.int64)  # rightmost first
    rest = body
    for position in range(15):
        rest, digits[:, position] = np.divmod(rest, 10)
    doubled = digits[:, 0::2] * 2
    total = (doubled // 10 + doubled % 10).sum(axis=1) + digits[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def _seconds_us(rng: np.random.Generator, low_s: int, high_s: int, n: int) -> np.ndarray:
    """`n` durations drawn uniformly in [low_s, high_s) whole seconds, as microseconds."""
    return rng.integers(low_s, high_s, n) * SECOND_US


def _to_day(time_us: np.ndarray) -> np.ndarray:
    """Epoch microseconds as datetime64[D] (the UTC day)."""
    return (np.asarray(time_us) // DAY_US).astype("M8[D]")


def _end_of_month(day: np.ndarray) -> np.ndarray:
    """The last day of each day's month."""
    return (day.astype("M8[M]") + 1).astype("M8[D]") - 1
