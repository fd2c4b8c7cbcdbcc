"""The settings of the synthetic data set: one frozen, validated value from which every table
and every day is derived."""

from __future__ import annotations

import datetime as dt
import numbers
from dataclasses import dataclass, fields
from typing import get_type_hints

import numpy as np

#: tids are `YYYYMMDD * TID_DAY_FACTOR + sequence`, so a day holds fewer rows than this.
TID_DAY_FACTOR = 1_000_000_000
_MAX_TRANSACTIONS_PER_DAY = 100_000_000
_MAX_DAYS = 4 * 365  # a card reissued inside a period must not expire again inside it
MAX_DAYS_AFTER_START = 100 * 365  # the last day that can be generated, a century on


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: owners and habits come from (seed, n_cards), their moves and card
    reissues from each period of `n_days` days, and each day from (seed, day) and those, so any
    day from `start_date` on can be generated on its own."""

    seed: int = 42
    start_date: dt.date = dt.date(2025, 1, 1)  # first day (UTC); nothing is generated before it
    # Days of the default range (`days()`, the history tables' default end) and of each period in
    # which `move_share` of owners move and `reissue_share` of cards are reissued early; later
    # days are generated too, their periods following on.
    n_days: int = 60
    n_cards: int = 1_000
    transactions_per_day: int = 10_000  # mean; each day varies around it deterministically
    fraud_rate: float = 0.005  # target share of fraudulent transactions
    chain_attack_share: float = 0.6  # share of fraud rows from bursts; the rest is travel fraud
    move_share: float = 0.05  # share of owners who move city in each period
    reissue_share: float = 0.03  # share of cards reissued early in each period
    label_noise: float = 0.0  # share of labels flipped (missed frauds, false chargebacks)
    genuine_label_delay_days: int = 7  # a genuine charge is confirmed this long after it
    max_fraud_label_delay_days: int = 30  # a fraud is reported 1 to this many days after it

    def __post_init__(self) -> None:
        hints = get_type_hints(SyntheticConfig)
        for field in fields(self):
            value, expected = getattr(self, field.name), hints[field.name]
            if expected is dt.date:
                ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
            else:  # numbers from numpy or plain Python alike; never a bool
                number_kind = numbers.Integral if expected is int else numbers.Real
                ok = isinstance(value, number_kind) and not isinstance(value, (bool, np.bool_))
                if ok:
                    object.__setattr__(self, field.name, expected(value))
            if not ok:
                raise TypeError(
                    f"SyntheticConfig.{field.name} must be {expected.__name__}, got {value!r}"
                )
        _check_range("seed", self.seed, 0, None)
        _check_range("n_days", self.n_days, 1, _MAX_DAYS)
        _check_range("n_cards", self.n_cards, 1, 10**9)
        _check_range("transactions_per_day", self.transactions_per_day, 1, _MAX_TRANSACTIONS_PER_DAY)
        _check_range("fraud_rate", self.fraud_rate, 0.0, 0.1)
        _check_range("chain_attack_share", self.chain_attack_share, 0.0, 1.0)
        _check_range("move_share", self.move_share, 0.0, 1.0)
        _check_range("reissue_share", self.reissue_share, 0.0, 1.0)
        _check_range("label_noise", self.label_noise, 0.0, 0.5)
        _check_range("genuine_label_delay_days", self.genuine_label_delay_days, 1, 365)
        _check_range("max_fraud_label_delay_days", self.max_fraud_label_delay_days, 1, 365)

    @property
    def end_date(self) -> dt.date:
        """The first day after the default range (and after the first period)."""
        return self.start_date + dt.timedelta(days=self.n_days)

    @property
    def last_day(self) -> dt.date:
        """The last day that can be generated: `MAX_DAYS_AFTER_START` after `start_date`."""
        return dt.date.fromordinal(min(self.start_date.toordinal() + MAX_DAYS_AFTER_START, dt.date.max.toordinal()))

    def days(self) -> list[dt.date]:
        """Every day of the default range, in order."""
        return [self.start_date + dt.timedelta(days=i) for i in range(self.n_days)]

    def period_of(self, day: dt.date) -> int:
        """The number of the `n_days` period holding `day` (0 for the default range)."""
        return (day - self.start_date).days // self.n_days

    def check_day(self, day: dt.date | str) -> dt.date:
        """The day as a date (ISO strings such as partition keys are accepted), or a ValueError
        if it is before `start_date` or after `last_day`."""
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"day {day!r} is not an ISO date (YYYY-MM-DD)") from None
        elif isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"day must be a date or an ISO date string, got {day!r}")
        if day < self.start_date:
            raise ValueError(
                f"day {day.isoformat()} is before the synthetic data's first day "
                f"(SyntheticConfig.start_date={self.start_date.isoformat()}): set an earlier start_date"
            )
        if day > self.last_day:
            raise ValueError(
                f"day {day.isoformat()} is after the synthetic data's last day {self.last_day.isoformat()}"
                f" ({MAX_DAYS_AFTER_START:,} days after SyntheticConfig.start_date={self.start_date.isoformat()})"
            )
        return day


def _check_range(name: str, value: float, low: float, high: float | None) -> None:
    """Raise a ValueError naming the setting when `value` is outside [low, high]."""
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"SyntheticConfig.{name} must be in {bound}, got {value!r}")
