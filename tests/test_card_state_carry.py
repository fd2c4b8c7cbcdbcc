"""The charges carried for the card states (`charges_before`) replace a read of all history: states
built day by day, or in chunks of days, from the carried rows plus the new days' charges equal those
built from every charge, on data where cards stay idle for far longer than the 4-hour window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from feature_logic.card_state import RECENT_INPUT_COLUMNS, charges_before, recent_charges
from feature_logic.inputs import FeatureInputError

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAYS = 12


def charges(seed: int = 7, *, string_tids: bool = False) -> pd.DataFrame:
    """Charges of 40 cards over DAYS days: most cards charge a few times a day, some only once in
    the whole range or once a week, with bursts inside 4 hours and charges at the same instant."""
    rng = np.random.default_rng(seed)
    rows = []
    tid = 1_000
    for card in range(1, 41):
        if card % 10 == 0:  # idle for days: one charge on the first day, one on the last
            times = [rng.uniform(0, 86_400), (DAYS - 1) * 86_400 + rng.uniform(0, 86_400)]
        elif card % 7 == 0:  # once a week
            times = [rng.uniform(0, 86_400), 7 * 86_400 + rng.uniform(0, 86_400)]
        else:
            times = list(rng.uniform(0, DAYS * 86_400, size=rng.integers(10, 40)))
            burst = rng.uniform(0, DAYS * 86_400)
            times += list(burst + rng.uniform(0, 3 * 3_600, size=5))  # a burst inside 4 hours
            times += [times[0]]  # two charges of the card at the same instant: ordered by tid
        for seconds in times:
            if seconds >= DAYS * 86_400:
                continue
            tid += int(rng.integers(1, 5))
            rows.append((tid, card, START + timedelta(microseconds=int(seconds * 1e6)), rng.uniform(-80, 80),
                         rng.uniform(-170, 170), round(rng.uniform(1, 500), 2), rng.uniform(0, 900)))
    frame = pd.DataFrame(rows, columns=list(RECENT_INPUT_COLUMNS))
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True).astype("datetime64[us, UTC]")
    frame.loc[frame.index[::9], "loc_delta_t_minus_1"] = np.nan
    if string_tids:
        frame["tid"] = "t-" + frame["tid"].astype(str)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # no order is assumed


def day(n: int) -> tuple[datetime, datetime]:
    return START + timedelta(days=n), START + timedelta(days=n + 1)


def full_states(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    start, end = day(n)
    return recent_charges(frame[frame["datetime"] < end].reset_index(drop=True), start=start, end=end)


@pytest.mark.parametrize("string_tids", [False, True])
@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_states_from_carried_charges_equal_those_from_all_history(chunk, string_tids):
    frame = charges(string_tids=string_tids)
    carried = None
    compared = 0
    for first in range(0, DAYS, chunk):
        days = range(first, min(first + chunk, DAYS))
        start, end = day(days[0])[0], day(days[-1])[1]
        new = frame[(frame["datetime"] >= start) & (frame["datetime"] < end)]
        rows = new if carried is None else pd.concat([carried, new], ignore_index=True)
        for n in days:
            expected = full_states(frame, n)
            got = recent_charges(rows.reset_index(drop=True), start=day(n)[0], end=day(n)[1])
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
            compared += len(expected)
        carried = charges_before(rows.reset_index(drop=True), end=end)
    assert compared > 200
    # the idle cards' states on the last day reach back to the first day's charge
    last_day = full_states(frame, DAYS - 1)
    assert set(last_day["cc_num"]) >= {10, 20, 30, 40}


def test_carried_rows_equal_those_taken_from_every_charge_and_stay_bounded():
    frame = charges()
    carried = None
    for n in range(DAYS):
        start, end = day(n)
        new = frame[(frame["datetime"] >= start) & (frame["datetime"] < end)]
        carried = charges_before(new.reset_index(drop=True) if carried is None
                                 else pd.concat([carried, new], ignore_index=True), end=end)
        every = charges_before(frame, end=end)
        pd.testing.assert_frame_equal(carried, every, check_exact=True)
    cards = frame["cc_num"].nunique()
    assert cards <= len(carried) < len(frame) / 5  # per card: its last charge, plus those of its last 4 hours


def test_the_carried_rows_per_card_are_the_window_and_the_one_before():
    at = START + timedelta(hours=10)
    rows = pd.DataFrame({
        "tid": [1, 2, 3, 4, 5, 6],
        "cc_num": [1, 1, 1, 1, 2, 2],
        "datetime": pd.to_datetime([START + timedelta(hours=h) for h in (1, 2, 7, 9, 3, 11)], utc=True),
        "latitude": 1.0, "longitude": 2.0, "amount": 3.0, "loc_delta_t_minus_1": 0.5,
    })
    got = charges_before(rows, end=at)
    # card 1: 7h and 9h are inside [6h, 10h), 2h is the one before; card 2: 3h is its last, 11h is after `end`
    assert got["tid"].tolist() == [2, 3, 4, 5]


def test_bad_input_is_named():
    rows = charges().drop(columns=["amount"])
    with pytest.raises(FeatureInputError, match="amount"):
        charges_before(rows, end=START)
    repeated = charges().head(3)
    repeated = pd.concat([repeated, repeated.head(1)], ignore_index=True)
    with pytest.raises(FeatureInputError, match="tid"):
        charges_before(repeated, end=START + timedelta(days=DAYS))
