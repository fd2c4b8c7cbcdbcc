"""Deterministic synthetic raw data for the fraud model: cards, owners with history, one UTC
day of transactions at a time with injected fraud, and the labels that arrive days later.

Entities depend only on the config; each day only on (seed, day) and the entities, so a day
generated alone equals the same day generated inside a range, and tids are stable. Any day from
the config's start on can be generated; owners keep moving and cards keep being reissued, and the
history tables can be cut at any day (`profiles(until=day)`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from feature_logic.schema import CATEGORIES
from feature_logic.synthetic_config import TID_DAY_FACTOR, SyntheticConfig
from feature_logic.synthetic_fraud import chain_attacks, impossible_travel
from feature_logic.synthetic_population import (
    DAY_US,
    SECOND_US,
    Charges,
    Population,
    build_population,
    credit_cards_frame,
    day_start_us,
    habitual_charges,
    next_period,
    profiles_frame,
    utc_timestamps,
)
from feature_logic.synthetic_reference import WEEKDAY_FACTORS

__all__ = [
    "CHAIN_ATTACK",
    "IMPOSSIBLE_TRAVEL",
    "DayData",
    "SyntheticConfig",
    "SyntheticGenerator",
    "generate_credit_cards",
    "generate_day",
    "generate_days",
    "generate_fraud_labels",
    "generate_profiles",
    "generate_transactions",
]

#: Names of the injected fraud patterns in `DayData.injected_frauds.pattern`.
CHAIN_ATTACK = "chain_attack"
IMPOSSIBLE_TRAVEL = "impossible_travel"
_PATTERNS = np.array([None, CHAIN_ATTACK, IMPOSSIBLE_TRAVEL], dtype=object)
_CATEGORY_NAMES = np.array(CATEGORIES, dtype=object)
_DAY_STREAM = 1  # the entities use stream 0 of the seed
_CHARGE_FIELDS = tuple(Charges.__dataclass_fields__)


@dataclass(frozen=True)
class DayData:
    """One UTC day: its `transactions` and `fraud_labels` (raw table contract), plus the ground
    truth `injected_frauds` (tid, cc_num, pattern, incident) for tests and diagnostics."""

    day: dt.date
    transactions: pd.DataFrame
    fraud_labels: pd.DataFrame
    injected_frauds: pd.DataFrame


class SyntheticGenerator:
    """Draws the owners and cards of a config once, then generates any day from its start on
    demand. Each period of `n_days` days (moves, reissues) is derived from the one before it when
    first needed and kept (about 60 bytes a card per period)."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self._periods: list[Population] = [build_population(config)]

    @property
    def population(self) -> Population:
        """The entities during the first period (the default range)."""
        return self._periods[0]

    def population_on(self, day: dt.date | str) -> Population:
        """The entities during the period holding `day`: the cities and cards of its start and
        its moves and reissues."""
        period = self.config.period_of(self.config.check_day(day))
        while len(self._periods) <= period:
            self._periods.append(next_period(self.config, self._periods[-1], len(self._periods)))
        return self._periods[period]

    def credit_cards(self, until: dt.date | str | None = None) -> pd.DataFrame:
        """The `credit_cards` history through the end of day `until` (default: the last day of the
        config's default range): first issues (before the start) and every reissue up to then."""
        return credit_cards_frame(*self._history(until))

    def profiles(self, until: dt.date | str | None = None) -> pd.DataFrame:
        """The `profiles` history through the end of day `until` (default: the last day of the
        config's default range): each owner at the card's first issue and a row per move."""
        return profiles_frame(*self._history(until))

    def _history(self, until: dt.date | str | None) -> tuple[list[Population], int]:
        """The periods up to the one holding `until`, and the end of that day (epoch µs)."""
        last = self.config.check_day(until if until is not None else self.config.end_date - dt.timedelta(days=1))
        self.population_on(last)  # derives the periods up to it
        return self._periods[: self.config.period_of(last) + 1], day_start_us(last + dt.timedelta(days=1))

    def day(self, day: dt.date | str) -> DayData:
        """Transactions, labels and injected frauds of one UTC day (any day from the start on)."""
        day = self.config.check_day(day)
        config = self.config
        population = self.population_on(day)
        seed = np.random.SeedSequence(config.seed, spawn_key=(_DAY_STREAM, day.toordinal()))
        rng = np.random.default_rng(seed)
        n_total = int(rng.poisson(config.transactions_per_day * WEEKDAY_FACTORS[day.weekday()]))
        n_fraud = int(rng.binomial(n_total, config.fraud_rate))
        chain, burst = chain_attacks(rng, population, n_fraud * config.chain_attack_share, day)
        n_travel = max(0, min(n_fraud - len(chain), n_total - len(chain)))
        genuine = habitual_charges(rng, population, max(0, n_total - len(chain) - n_travel), day)
        travel = impossible_travel(rng, population, genuine, n_travel, day)
        return self._assemble(rng, day, genuine, chain, burst, travel)

    def days(
        self, first: dt.date | str | None = None, last: dt.date | str | None = None
    ) -> Iterator[DayData]:
        """Each day from `first` to `last` inclusive (default: the config's default range), in order."""
        horizon = self.config.days()
        first = self.config.check_day(first if first is not None else horizon[0])
        last = self.config.check_day(last if last is not None else horizon[-1])
        if first > last:
            raise ValueError(f"first day {first.isoformat()} is after last day {last.isoformat()}")
        for offset in range((last - first).days + 1):
            yield self.day(first + dt.timedelta(days=offset))

    def _assemble(
        self, rng: np.random.Generator, day: dt.date, genuine: Charges, chain: Charges, burst: np.ndarray,
        travel: Charges,
    ) -> DayData:  # fmt: skip
        """Merge the charges in time order, number them, and label them."""
        parts = (genuine, chain, travel)
        columns = {name: np.concatenate([getattr(p, name) for p in parts]) for name in _CHARGE_FIELDS}
        pattern = np.repeat(np.arange(3, dtype=np.int8), [len(p) for p in parts])
        incident = np.concatenate([np.full(len(genuine), -1), burst, len(burst) + np.arange(len(travel))])
        cc_num = self.population.cc_num[columns["card"]]
        order = np.argsort(columns["time_us"], kind="stable")  # stable: ties keep a fixed order
        columns = {name: values[order] for name, values in columns.items()}
        pattern, incident, cc_num = pattern[order], incident[order], cc_num[order]
        day_number = day.year * 10_000 + day.month * 100 + day.day  # tids read as YYYYMMDD + sequence
        tid = day_number * TID_DAY_FACTOR + np.arange(len(order), dtype=np.int64)

        datetime = utc_timestamps(columns["time_us"])
        transactions = pd.DataFrame(
            {
                "tid": tid,
                "cc_num": cc_num,
                "datetime": datetime,
                "category": _CATEGORY_NAMES[columns["category"]],
                "amount": columns["amount"].astype(np.float64),
                "latitude": columns["latitude"],
                "longitude": columns["longitude"],
            }
        )
        is_fraud = (pattern > 0) ^ (rng.random(len(tid)) < self.config.label_noise)
        labels = pd.DataFrame(
            {
                "tid": tid,
                "cc_num": cc_num,
                "datetime": datetime,
                "is_fraud": is_fraud.astype(np.int8),
                "label_time": utc_timestamps(columns["time_us"] + self._label_delay_us(rng, is_fraud)),
            }
        )
        fraud = pattern > 0
        injected = pd.DataFrame(
            {
                "tid": tid[fraud],
                "cc_num": cc_num[fraud],
                "pattern": _PATTERNS[pattern[fraud]],
                "incident": incident[fraud].astype(np.int64),
            }
        )
        return DayData(day=day, transactions=transactions, fraud_labels=labels, injected_frauds=injected)

    def _label_delay_us(self, rng: np.random.Generator, is_fraud: np.ndarray) -> np.ndarray:
        """How long after each charge its label is known: a chargeback 1 to N days later for a
        fraud, a fixed confirmation delay for a genuine charge."""
        max_days = self.config.max_fraud_label_delay_days
        chargeback_s = rng.integers(86_400, max_days * 86_400 + 1, len(is_fraud))
        genuine_us = self.config.genuine_label_delay_days * DAY_US
        return np.where(is_fraud, chargeback_s * SECOND_US, genuine_us)


def generate_credit_cards(config: SyntheticConfig, until: dt.date | str | None = None) -> pd.DataFrame:
    """The `credit_cards` table (issues and reissues) of `config` through day `until`."""
    return SyntheticGenerator(config).credit_cards(until)


def generate_profiles(config: SyntheticConfig, until: dt.date | str | None = None) -> pd.DataFrame:
    """The `profiles` table (owners and their moves) of `config` through day `until`."""
    return SyntheticGenerator(config).profiles(until)


def generate_day(config: SyntheticConfig, day: dt.date | str) -> DayData:
    """Transactions and labels of one UTC day, generated together. For many days, reuse one
    `SyntheticGenerator` (or `generate_days`) so the entities are drawn once."""
    return SyntheticGenerator(config).day(day)


def generate_transactions(config: SyntheticConfig, day: dt.date | str) -> pd.DataFrame:
    """The `transactions` of one UTC day."""
    return generate_day(config, day).transactions


def generate_fraud_labels(config: SyntheticConfig, day: dt.date | str) -> pd.DataFrame:
    """The `fraud_labels` of one UTC day's transactions."""
    return generate_day(config, day).fraud_labels


def generate_days(
    config: SyntheticConfig, first: dt.date | str | None = None, last: dt.date | str | None = None
) -> Iterator[DayData]:
    """Each day from `first` to `last` inclusive (default: the config's default range), in order."""
    return SyntheticGenerator(config).days(first, last)
