"""The features of one new charge, computed at request time from its card's small state.

The online twin of `transaction_features` + `window_aggregates` for a single charge: the same
on-demand functions (`haversine_km`, `time_delta_seconds`) and the same float operations in the
same order (sums from the window's oldest charge to its newest, two-pass standard deviation,
integer microseconds converted to float64 once), so the values equal the batch values bit for
bit. Plain Python on a handful of numbers: a few microseconds, no pandas. Two of those functions
have a one-charge twin here that gives the same bits with less machinery around one number
(`haversine_one`: numpy's own sin/cos/arcsin on scalars, the arithmetic on Python floats;
`time_delta_seconds` of two microsecond counts is their integer difference over 1e6): a request
scored alone spends ~1 us on them instead of ~6 (~5x more each when the server runs cold).

One case cannot agree: when two charges of one card share the same microsecond, the batch
window of each holds the other; a charge scored as it arrives cannot count one that has not
arrived yet.

Transaction ids are integers or strings, as the data contract says (one type per card state):
charges order by (time, tid), strings by code point, as the batch's `id_order` orders them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from feature_logic.on_demand import EARTH_RADIUS_KM
from feature_logic.windows import DEFAULT_WINDOW

MICROSECONDS_PER_DAY = 86_400_000_000
_MICROSECONDS_PER_SECOND = 1_000_000.0
_DIAMETER_KM = 2.0 * EARTH_RADIUS_KM
#: Years of 365.2425 days, as in `transaction_features`.
MICROSECONDS_PER_YEAR = 31_556_952_000_000.0
WINDOW_MICROSECONDS = DEFAULT_WINDOW // dt.timedelta(microseconds=1)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


class StoredCharge(NamedTuple):
    """A charge the card's state remembers, with its own loc_delta_t_minus_1."""

    micros: int  # event time, microseconds since the epoch (UTC)
    tid: int | str
    latitude: float
    longitude: float
    amount: float
    loc_delta: float | None  # None: not computed yet (see `complete_loc_deltas`)


class NewCharge(NamedTuple):
    """The charge being scored, as the request gives it (tid optional)."""

    micros: int
    tid: int | str | None
    category: str
    amount: float
    latitude: float
    longitude: float


class Version(NamedTuple):
    """One version of an owner profile or a card: when it became true and its date (day number)."""

    event_micros: int
    days: int | None  # birthdate or expiry as days since 1970-01-01; None when unknown


class ChargeFeatures(NamedTuple):
    """The features of a charge (the columns of both feature groups) and whether they are exact."""

    category: str
    amount: float
    age_at_transaction: float
    days_until_card_expires: float
    loc_delta_t_minus_1: float
    time_delta_t_minus_1: float
    trans_volume_mavg: float
    trans_volume_mstd: float
    trans_freq: int
    loc_delta_mavg: float
    complete: bool  # False: the state may miss charges this one's window or predecessor needs

    def as_dict(self) -> dict[str, object]:
        """The feature values by name (without `complete`)."""
        values = self._asdict()
        del values["complete"]
        return values


def utc_micros(moment: dt.datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch, for any datetime
    (year 1 at +14:00 included: the offset is applied to integers, never to a datetime)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return (moment.replace(tzinfo=None) - _NAIVE_EPOCH) // _ONE_MICROSECOND - offset // _ONE_MICROSECOND


def complete_loc_deltas(charges: Sequence[StoredCharge]) -> tuple[StoredCharge, ...]:
    """`charges` (sorted by (micros, tid), contiguous) with every missing loc_delta computed from
    the charge before it, as the batch does; a first charge without one gets 0.0 (a card's first)."""
    out: list[StoredCharge] = []
    for index, charge in enumerate(charges):
        if charge.loc_delta is None:
            if index == 0:
                charge = charge._replace(loc_delta=0.0)
            else:
                previous = charges[index - 1]
                charge = charge._replace(loc_delta=haversine_one(previous.latitude, previous.longitude,
                                                                 charge.latitude, charge.longitude))
        out.append(charge)
    return tuple(out)


def order_key(micros: int, tid: int | str | None) -> tuple[int, int, int | str]:
    """The (time, tid) order of charges, for integer and string tids alike; a charge without tid
    sorts last within its microsecond."""
    return (micros, 1, 0) if tid is None else (micros, 0, tid)


def charge_features(
    charge: NewCharge,
    charges: Sequence[StoredCharge],
    profile_versions: Sequence[Version],
    card_versions: Sequence[Version],
    *,
    window_us: int = WINDOW_MICROSECONDS,
) -> ChargeFeatures:
    """Features of `charge` given its card's remembered charges (sorted by (micros, tid)) and the
    owner's and card's versions (sorted by event time).

    A remembered charge with the same tid as `charge` is ignored (scoring a charge twice gives the
    same answer). `complete` is False when the state cannot vouch for the result: the charge is
    older than what the state covers (an out-of-order request).
    """
    complete = _covers(charges, charge, window_us)
    if charge.tid is not None and any(c.tid == charge.tid for c in charges):
        charges = [c for c in charges if c.tid != charge.tid]
    key = order_key(charge.micros, charge.tid)
    before = _count_before(charges, key)
    previous = charges[before - 1] if before else None
    if previous is None:
        loc_delta = 0.0
        time_delta = math.nan  # time_delta_seconds(t, None)
    else:
        loc_delta = haversine_one(previous.latitude, previous.longitude, charge.latitude, charge.longitude)
        # time_delta_seconds(t, t_prev): whole microseconds from t_prev to t, over 1e6
        time_delta = (charge.micros - previous.micros) / _MICROSECONDS_PER_SECOND

    # The window (t - window, t], same-time charges included, oldest first by (time, tid).
    oldest = charge.micros - window_us
    amounts: list[float] = []
    loc_deltas: list[float] = []
    for index, stored in enumerate(charges):
        if index == before:
            amounts.append(charge.amount)
            loc_deltas.append(loc_delta)
        if oldest < stored.micros <= charge.micros:
            amounts.append(stored.amount)
            loc_deltas.append(stored.loc_delta)
    if before == len(charges):
        amounts.append(charge.amount)
        loc_deltas.append(loc_delta)
    mean, std = _mean_and_sample_std(amounts)
    return ChargeFeatures(
        category=charge.category,
        amount=charge.amount,
        age_at_transaction=_age_years(profile_versions, charge.micros),
        days_until_card_expires=_days_until_expiry(card_versions, charge.micros),
        loc_delta_t_minus_1=loc_delta,
        time_delta_t_minus_1=time_delta,
        trans_volume_mavg=mean,
        trans_volume_mstd=std,
        trans_freq=len(amounts),
        loc_delta_mavg=_sequential_sum(loc_deltas) / len(loc_deltas),
        complete=complete,
    )


def haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """`on_demand.haversine_km` of four Python floats, the same bits: the same operations in the same
    order, the trigonometry by numpy's kernels (on scalars, as on arrays), +, -, * and sqrt on Python
    floats (IEEE, correctly rounded like numpy's)."""
    half_dphi = float(_radians(lat2 - lat1)) * 0.5
    half_dlambda = float(_radians(lon2 - lon1)) * 0.5
    sin_dphi, sin_dlambda = float(_sin(half_dphi)), float(_sin(half_dlambda))
    a = sin_dphi * sin_dphi + float(_cos(_radians(lat1))) * float(_cos(_radians(lat2))) * (sin_dlambda * sin_dlambda)
    return _DIAMETER_KM * float(_arcsin(math.sqrt(a if a < 1.0 or a != a else 1.0)))


_radians, _sin, _cos, _arcsin = np.radians, np.sin, np.cos, np.arcsin


def remember_charge(
    charges: Sequence[StoredCharge], charge: StoredCharge, *, window_us: int = WINDOW_MICROSECONDS
) -> tuple[StoredCharge, ...] | None:
    """The card's remembered charges once `charge` is its latest; None if it is not the latest.

    Keeps the charges in (latest - window, latest] and the one just before them (the
    predecessor a replay of the oldest of them needs); a charge with the same tid is replaced.
    """
    kept = [c for c in charges if c.tid != charge.tid]
    if kept and order_key(kept[-1].micros, kept[-1].tid) > order_key(charge.micros, charge.tid):
        return None  # an older charge: its successors' loc_delta would change; the batch rebuilds it
    kept.append(charge)
    oldest = charge.micros - window_us
    first_inside = next(i for i, c in enumerate(kept) if c.micros > oldest)
    return tuple(kept[max(first_inside - 1, 0):])


def _covers(charges: Sequence[StoredCharge], charge: NewCharge, window_us: int) -> bool:
    """Whether the state holds every charge the new one's window and predecessor need.

    The state keeps (latest - window, latest] plus one earlier charge; when that earlier one is
    there, older charges may exist that the state no longer holds.
    """
    if not charges:
        return True
    first, latest = charges[0], charges[-1]
    may_miss_older = first.micros <= latest.micros - window_us
    if not may_miss_older:
        return True
    has_predecessor = (order_key(first.micros, first.tid) < order_key(charge.micros, charge.tid)
                       and first.tid != charge.tid)
    return has_predecessor and charge.micros - window_us >= first.micros


def _count_before(charges: Sequence[StoredCharge], key: tuple[int, int, int | str]) -> int:
    count = 0
    for stored in charges:
        if order_key(stored.micros, stored.tid) >= key:
            break
        count += 1
    return count


def _mean_and_sample_std(values: list[float]) -> tuple[float, float]:
    """Mean, and two-pass sample standard deviation (0 for one value), summed oldest first."""
    mean = _sequential_sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    squared = 0.0
    for value in values:
        deviation = value - mean
        squared += deviation * deviation
    return mean, math.sqrt(squared / (len(values) - 1))


def _sequential_sum(values: list[float]) -> float:
    total = values[0]
    for value in values[1:]:
        total += value
    return total


def _as_of(versions: Sequence[Version], micros: int) -> Version | None:
    """The latest version with event time <= micros (a version applies from its own instant)."""
    found = None
    for version in versions:
        if version.event_micros > micros:
            break
        found = version
    return found


def _age_years(profile_versions: Sequence[Version], micros: int) -> float:
    profile = _as_of(profile_versions, micros)
    if profile is None or profile.days is None:
        return math.nan
    return float(micros - profile.days * MICROSECONDS_PER_DAY) / MICROSECONDS_PER_YEAR


def _days_until_expiry(card_versions: Sequence[Version], micros: int) -> float:
    card = _as_of(card_versions, micros)
    if card is None or card.days is None:
        return math.nan
    # Valid through its `expires` day, i.e. until the midnight after it.
    return float((card.days + 1) * MICROSECONDS_PER_DAY - micros) / float(MICROSECONDS_PER_DAY)
