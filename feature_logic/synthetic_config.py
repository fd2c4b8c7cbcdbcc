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
_MAX_DAYS = 4 * 365  # a card reissued inside the horizon must not expire again inside it


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: entities come from (seed, n_cards) and the horizon; each day from
    (seed, day) alone, so any day can be generated on its own."""

    seed: int = 42
    start_date: dt.date = dt.date(2025, 1, 1)  # first day of the horizon (UTC)
    n_days: int = 60  # days in the horizon; moves and reissues happen inside it
    n_cards: int = 1_000
    transactions_per_day: int = 10_000  # mean; each day varies around it deterministically
    fraud_rate: float = 0.005  # target share of fraudulent transactions
    chain_attack_share: float = 0.6  # share of fraud rows from bursts; the rest is travel fraud
    move_share: float = 0.05  # share of owners who move city inside the horizon
    reissue_share: float = 0.03  # share of cards reissued early inside the horizon
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
        """The first day after the horizon."""
        return self.start_date + dt.timedelta(days=self.n_days)

    def days(self) -> list[dt.date]:
        """Every day of the horizon, in order."""
        return [self.start_date + dt.timedelta(days=i) for i in range(self.n_days)]

    def check_day(self, day: dt.date | str) -> dt.date:
        """The day as a date (ISO strings such as partition keys are accepted), or a ValueError
        if it lies outside the horizon."""
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"day {day!r} is not an ISO date (YYYY-MM-DD)") from None
        elif isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"day must be a date or an ISO date string, got {day!r}")
        if not self.start_date <= day < self.end_date:
            raise ValueError(
                f"day {day.isoformat()} is outside the synthetic horizon "
                f"{self.start_date.isoformat()} .. {(self.end_date - dt.timedelta(days=1)).isoformat()}"
                f" (start_date={self.start_date.isoformat()}, n_days={self.n_days})"
            )
        return day


def _check_range(name: str, value: float, low: float, high: float | None) -> None:
    """Raise a ValueError naming the setting when `value` is outside [low, high]."""
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"SyntheticConfig.{name} must be in {bound}, got {value!r}")
