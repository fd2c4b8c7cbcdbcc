"""A replaced time range leaves the online store too: a key whose online row was removed offline gets
its newest remaining row, or disappears; rows outside the range stay. On SQLite and on Redis."""

from __future__ import annotations

import pandas as pd

from fraud_pipelines.feature_store import FeatureStore

from .conftest import DAY0


def day(n: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    return DAY0 + pd.Timedelta(days=n), DAY0 + pd.Timedelta(days=n + 1)


def rows(n: int, cards: list[int], level: float) -> pd.DataFrame:
    return pd.DataFrame({"cc_num": pd.array(cards, dtype="int64"),
                         "t": [day(n)[0] + pd.Timedelta(hours=c) for c in cards],
                         "limit": [level + c for c in cards], "tier": [f"d{n}" for _ in cards]})


def online(fs: FeatureStore, fg, cards: list[int]) -> dict[int, tuple | None]:
    found = fs.online_store.read(fg.online_table(), [(c,) for c in cards], ["t", "limit", "tier"])
    return dict(zip(cards, found))


def offline_latest(fg, cards: list[int]) -> dict[int, tuple | None]:
    latest = fg.as_of(DAY0 + pd.Timedelta(days=30))
    by_card = {int(r.cc_num): (r.t.to_pydatetime(), float(r.limit), r.tier) for r in latest.itertuples()}
    return {c: by_card.get(c) for c in cards}


def test_rows_removed_by_a_replacement_leave_the_online_store(tmp_path, online_store) -> None:
    fs = FeatureStore(tmp_path / "store", online_store=online_store)
    fg = fs.get_or_create_feature_group("cards", primary_key=["cc_num"], event_time="t", online_enabled=True)
    cards = list(range(1, 9))
    fg.insert(rows(0, [1, 2, 3, 4, 5, 6], 100.0), replace_time_range=day(0))
    fg.insert(rows(1, [1, 2, 3, 4, 7], 200.0), replace_time_range=day(1))
    fg.insert(rows(2, [1, 2], 300.0), replace_time_range=day(2))
    assert online(fs, fg, cards)[2][2] == "d2" and online(fs, fg, cards)[7][2] == "d1"

    fg.insert(rows(2, [1], 350.0), replace_time_range=day(2))  # card 2's day-2 row is gone offline
    now = online(fs, fg, cards)
    assert now[1][1:] == (351.0, "d2") and now[2][1:] == (202.0, "d1")  # back to its newest remaining row
    assert now == offline_latest(fg, cards)

    fg.insert(rows(1, [1], 0.0).iloc[:0], replace_time_range=day(1))  # the whole day removed
    now = online(fs, fg, cards)
    assert now[7] is None  # its only row was on the replaced day
    assert now[2][1:] == (102.0, "d0") and now[3][1:] == (103.0, "d0")
    assert now[1][1:] == (351.0, "d2")  # newer than the range: untouched
    assert now == offline_latest(fg, cards)
    assert now[8] is None
