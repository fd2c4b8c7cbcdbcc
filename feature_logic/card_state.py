"""Per card, the small state a request for a NEW charge needs: its recent charges and its owner's
and card's versions, built from the feature group rows and raw histories, and stored as JSON text.

- `recent_charges` per card: the charges in (latest - 4h, latest] plus the one just before
  them, each with amount and loc_delta_t_minus_1 -- enough for the next charge's distance,
  time delta and 4-hour window (see `request_features.charge_features`).
- `card_versions` per card: every profile version (birthdate) and card version (expiry) with
  the instant it became true, so a request takes the version valid at its own time, even
  when a later version (a move, a reissue) is already known.

JSON keeps floats exact (shortest round-trip repr) and is readable in any online store.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from feature_logic.inputs import (
    FeatureInputError,
    epoch_days,
    float64_values,
    id_order,
    int64_keys,
    require_columns,
    require_unique,
    transaction_ids,
    utc_instant_microseconds,
    utc_microseconds,
)
from feature_logic.point_in_time import group_time_order
from feature_logic.request_features import StoredCharge, Version
from feature_logic.windows import DEFAULT_WINDOW

#: The columns of the `transactions` feature group that `recent_charges` reads.
RECENT_INPUT_COLUMNS: tuple[str, ...] = (
    "tid", "cc_num", "datetime", "latitude", "longitude", "amount", "loc_delta_t_minus_1",
)

RECENT_CHARGES_DESCRIPTIONS: dict[str, str] = {
    "cc_num": "The card's keyed token (primary key).",
    "datetime": "Event time of the card's latest charge (UTC).",
    "charges": (
        "JSON [[micros, tid, latitude, longitude, amount, loc_delta_t_minus_1], ...] sorted by "
        "(time, tid): the card's charges in (latest - 4h, latest] and the one just before them."
    ),
}

CARD_VERSIONS_DESCRIPTIONS: dict[str, str] = {
    "cc_num": "The card's keyed token (primary key).",
    "event_time": "When the newest of these versions became true (UTC).",
    "profile_versions": "JSON [[event micros, birthdate as days since 1970-01-01 or null], ...], oldest first.",
    "card_versions": "JSON [[event micros, expiry day as days since 1970-01-01 or null], ...], oldest first.",
}

#: Arrow schemas of the two outputs (an empty batch has no types of its own).
RECENT_CHARGES_SCHEMA = pa.schema([("cc_num", pa.int64()), ("datetime", pa.timestamp("us", tz="UTC")),
                                   ("charges", pa.string())])
CARD_VERSIONS_SCHEMA = pa.schema([("cc_num", pa.int64()), ("event_time", pa.timestamp("us", tz="UTC")),
                                  ("profile_versions", pa.string()), ("card_versions", pa.string())])

_PROFILE_COLUMNS = ("cc_num", "birthdate", "event_time")
_CARD_COLUMNS = ("cc_num", "expires", "event_time")
_ONE_MICROSECOND = timedelta(microseconds=1)


def recent_charges(
    features: pd.DataFrame, *, end: datetime, start: datetime | None = None, window: timedelta = DEFAULT_WINDOW
) -> pd.DataFrame:
    """Each card's state as of `end` (charges strictly before it), for the cards whose latest
    such charge is at or after `start` (every card when `start` is None), sorted by card.

    `features` are rows of the `transactions` feature group (RECENT_INPUT_COLUMNS) holding, for
    each card, its charges in [start - window, end) and its last charge before that (with `start`
    None: in (its latest - window, its latest] and the one before); other rows are allowed and
    never change the result.
    """
    require_columns(features, RECENT_INPUT_COLUMNS, "features")
    end_us = utc_instant_microseconds(end, "end")
    start_us = None if start is None else utc_instant_microseconds(start, "start")
    if not isinstance(window, timedelta) or window <= timedelta(0):
        raise FeatureInputError(f"window must be a positive timedelta, got {window!r}")
    window_us = window // _ONE_MICROSECOND
    micros = utc_microseconds(features, "datetime", "features")
    tid = transaction_ids(features, "tid", "features")  # int64 or string, kept as given
    (tie,) = id_order(tid)
    require_unique(tie, features.index, "features.tid", shown=tid)
    before_end = np.flatnonzero(micros < end_us)
    cards = int64_keys(features, "cc_num", "features")[before_end]
    micros, tid, tie = micros[before_end], tid[before_end], tie[before_end]
    order = group_time_order(cards, micros, tie)
    cards, micros, tid = cards[order], micros[order], tid[order]
    rows = before_end[order]

    n = len(cards)
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = cards[1:] != cards[:-1]
    group = np.concatenate([[0], np.cumsum(is_last[:-1])]).astype(np.int64) if n else np.zeros(0, np.int64)
    latest = micros[is_last][group]
    inside = micros > latest - window_us
    prior = np.zeros(n, dtype=bool)
    prior[:-1] = ~inside[:-1] & inside[1:] & ~is_last[:-1]
    wanted = inside | prior
    if start_us is not None:
        wanted &= latest >= start_us
    kept = np.flatnonzero(wanted)

    if not len(kept):
        return _empty_recent_charges()
    columns = [micros[kept].tolist(), tid[kept].tolist()] + [
        float64_values(features, column, "features")[rows[kept]].tolist()
        for column in ("latitude", "longitude", "amount", "loc_delta_t_minus_1")
    ]
    charges = list(zip(*columns))  # StoredCharge field order
    kept_cards = cards[kept]
    bounds = np.flatnonzero(np.concatenate([[True], kept_cards[1:] != kept_cards[:-1], [True]]))
    last_of_card = bounds[1:] - 1
    return pd.DataFrame(
        {
            "cc_num": kept_cards[last_of_card],
            "datetime": _utc_index(micros[kept][last_of_card]),
            "charges": np.array(
                [json.dumps(charges[a:b], separators=(",", ":")) for a, b in zip(bounds[:-1], bounds[1:])],
                dtype=object,
            ),
        },
        columns=list(RECENT_CHARGES_DESCRIPTIONS),
    )


def charges_before(features: pd.DataFrame, *, end: datetime, window: timedelta = DEFAULT_WINDOW) -> pd.DataFrame:
    """Per card, the rows before `end` that `recent_charges` needs for any time from `end` on: its
    charges in [end - window, end) and its last charge before end - window (by time, then tid),
    with RECENT_INPUT_COLUMNS, sorted by (card, time, tid).

    Carried from day to day, it replaces a read of all history: `charges_before(rows, end=t2)` with
    `rows` = `charges_before(..., end=t1)` plus the charges in [t1, t2) gives the same rows as from
    every charge before t2, and those rows plus the charges of [t2, t3) hold what `recent_charges`
    needs for any day in [t2, t3).
    """
    require_columns(features, RECENT_INPUT_COLUMNS, "features")
    end_us = utc_instant_microseconds(end, "end")
    if not isinstance(window, timedelta) or window <= timedelta(0):
        raise FeatureInputError(f"window must be a positive timedelta, got {window!r}")
    micros = utc_microseconds(features, "datetime", "features")
    tid = transaction_ids(features, "tid", "features")
    (tie,) = id_order(tid)
    require_unique(tie, features.index, "features.tid", shown=tid)
    before_end = np.flatnonzero(micros < end_us)
    cards = int64_keys(features, "cc_num", "features")[before_end]
    order = group_time_order(cards, micros[before_end], tie[before_end])
    cards, micros = cards[order], micros[before_end][order]
    early = micros < end_us - window // _ONE_MICROSECOND
    last_early = early.copy()  # the last early row of its card: the next row is another card's or not early
    last_early[:-1] &= (cards[1:] != cards[:-1]) | ~early[1:]
    kept = before_end[order][~early | last_early]
    return features.iloc[kept][list(RECENT_INPUT_COLUMNS)].reset_index(drop=True)


def card_versions(profiles: pd.DataFrame, credit_cards: pd.DataFrame) -> pd.DataFrame:
    """One row per card found in either history: its profile and card versions as JSON, sorted by card."""
    require_columns(profiles, _PROFILE_COLUMNS, "profiles")
    require_columns(credit_cards, _CARD_COLUMNS, "credit_cards")
    owners = _versions_by_card(profiles, "birthdate", "profiles")
    cards = _versions_by_card(credit_cards, "expires", "credit_cards")
    numbers = sorted(owners.keys() | cards.keys())
    event_times = [max(v[0] for v in owners.get(c, []) + cards.get(c, [])) for c in numbers]
    return pd.DataFrame(
        {
            "cc_num": np.array(numbers, dtype=np.int64),
            "event_time": _utc_index(np.array(event_times, dtype=np.int64)),
            "profile_versions": np.array([json.dumps(owners.get(c, []), separators=(",", ":")) for c in numbers],
                                         dtype=object),
            "card_versions": np.array([json.dumps(cards.get(c, []), separators=(",", ":")) for c in numbers],
                                      dtype=object),
        },
        columns=list(CARD_VERSIONS_DESCRIPTIONS),
    )


def decode_charges(text: str | None) -> tuple[StoredCharge, ...]:
    """The remembered charges from their JSON text (empty for None)."""
    if not text:
        return ()
    return tuple(StoredCharge(*row) for row in json.loads(text))


def encode_charges(charges: tuple[StoredCharge, ...] | list[StoredCharge]) -> str:
    """JSON text of remembered charges, as `recent_charges` writes it."""
    return json.dumps([tuple(c) for c in charges], separators=(",", ":"))


def decode_versions(text: str | None) -> tuple[Version, ...]:
    """Profile or card versions from their JSON text (empty for None)."""
    if not text:
        return ()
    return tuple(Version(*row) for row in json.loads(text))


def _versions_by_card(table: pd.DataFrame, column: str, name: str) -> dict[int, list[list]]:
    """{cc_num: [[event micros, days or None], ...]} sorted by event time."""
    keys = int64_keys(table, "cc_num", name)
    micros = utc_microseconds(table, "event_time", name)
    days, missing = epoch_days(table, column, name)
    order = np.lexsort((micros, keys))
    out: dict[int, list[list]] = {}
    previous: tuple[int, int] | None = None
    for key, time, day, absent in zip(keys[order].tolist(), micros[order].tolist(), days[order].tolist(),
                                       missing[order].tolist()):
        if previous == (key, time):
            raise FeatureInputError(f"{name}: card {key} has two versions at {time} us; which one applies is ambiguous")
        previous = (key, time)
        out.setdefault(key, []).append([time, None if absent else day])
    return out


def _empty_recent_charges() -> pd.DataFrame:
    return pd.DataFrame({"cc_num": np.zeros(0, np.int64), "datetime": _utc_index(np.zeros(0, np.int64)),
                         "charges": np.zeros(0, dtype=object)})


def _utc_index(micros: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC")
