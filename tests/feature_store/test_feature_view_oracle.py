"""Training data of a feature view against the brute-force oracle, on randomized stores built by
several inserts: late-arriving older rows, upserts of existing (key, event time), keys without
events, events exactly at spine times, spine rows before any event, three groups joined."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from fraud_pipelines.feature_store import FeatureStore

from .oracle import point_in_time_oracle, same_value

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def _at(rng: random.Random) -> dt.datetime:
    return T0 + dt.timedelta(minutes=15 * rng.randrange(40))


def _build(store: FeatureStore, seed: int) -> dict:
    rng = random.Random(seed)
    cards = list(range(10))  # cards 8 and 9 never appear in the profile group
    labels = [
        {"tid": i, "cc_num": rng.choice(cards), "datetime": _at(rng), "is_fraud": rng.randrange(2)} for i in range(80)
    ]
    profiles: dict[tuple, dict] = {}
    windows: dict[tuple, dict] = {}
    txs = [{"tid": i, "cc_num": r["cc_num"], "datetime": r["datetime"], "amount": float(rng.randrange(1, 500))}
           for i, r in enumerate(labels) if rng.random() < 0.8]  # some spine rows have no transaction row

    label_fg = store.get_or_create_feature_group("labels", primary_key=["tid"], event_time="datetime")
    profile_fg = store.get_or_create_feature_group("profiles", primary_key=["cc_num"], event_time="event_time")
    window_fg = store.get_or_create_feature_group("windows", primary_key=["cc_num", "window_id"], event_time="end")
    tx_fg = store.get_or_create_feature_group("txs", primary_key=["tid"], event_time="datetime")
    label_fg.insert(pd.DataFrame(labels))
    tx_fg.insert(pd.DataFrame(txs))
    for batch in range(4):  # later batches bring older event times and rewrite existing keys
        rows = []
        for _ in range(15):
            card = rng.choice(cards[:8])
            key = (card, _at(rng) - dt.timedelta(hours=3 * batch))
            row = {"cc_num": card, "event_time": key[1], "city": rng.choice("xyz"), "limit": float(rng.randrange(9))}
            profiles[key] = row
            rows.append(row)
        rows.append(dict(rows[0], city="upserted"))  # same (key, event time) twice: last wins
        profiles[(rows[0]["cc_num"], rows[0]["event_time"])] = rows[-1]
        profile_fg.insert(pd.DataFrame(rows))
        wrows = []
        for _ in range(12):  # several windows of one card may end at the same time: ties by primary key
            row = {"cc_num": rng.choice(cards), "window_id": rng.randrange(4),
                   "end": T0 + dt.timedelta(minutes=75 * rng.randrange(8)), "freq": rng.randrange(20)}
            windows[(row["cc_num"], row["window_id"], row["end"])] = row
            wrows.append(row)
        window_fg.insert(pd.DataFrame(wrows))
    query = (
        label_fg.select_all()
        .join(tx_fg.select(["amount"]), on=["tid"])
        .join(profile_fg.select(["city", "limit", "event_time"]), prefix="p_")
        .join(window_fg.select(["freq", "window_id", "end"]), on=["cc_num"], prefix="w_")
    )
    view = store.get_or_create_feature_view("oracle", query=query, labels=["is_fraud"])
    oracle_joins = [
        {"rows": txs, "spine_keys": ["tid"], "keys": ["tid"], "time": "datetime", "pk": ["tid"],
         "columns": {"amount": "amount"}},
        {"rows": list(profiles.values()), "spine_keys": ["cc_num"], "keys": ["cc_num"], "time": "event_time",
         "pk": ["cc_num"], "columns": {"city": "p_city", "limit": "p_limit", "event_time": "p_event_time"}},
        {"rows": list(windows.values()), "spine_keys": ["cc_num"], "keys": ["cc_num"], "time": "end",
         "pk": ["cc_num", "window_id"], "columns": {"freq": "w_freq", "window_id": "w_window_id", "end": "w_end"}},
    ]
    return {"view": view, "labels": labels, "joins": oracle_joins, "profiles": profile_fg, "windows": windows}


@pytest.mark.parametrize("seed", range(5))
def test_training_data_matches_the_oracle(store: FeatureStore, seed: int) -> None:
    case = _build(store, seed)
    x, y = case["view"].training_data(primary_key=True, event_time=True)
    got = x.assign(is_fraud=y).to_dict("records")
    expected = point_in_time_oracle(case["labels"], spine_time="datetime", spine_order=["tid"], joins=case["joins"])
    assert len(got) == len(expected) == 80
    mismatches = [
        (column, e[column], g[column]) for e, g in zip(expected, got) for column in e
        if not same_value(e[column], g[column])
    ]
    assert mismatches == []
    # the data hit the edge cases the rule is about
    assert any(same_value(e["p_city"], None) for e in expected)  # no profile yet, or never one
    assert any(e["datetime"] == e["p_event_time"] for e in expected) or any(
        e["datetime"] == e["w_end"] for e in expected
    )  # an event exactly at the spine time
    ends = pd.Series([(w["cc_num"], w["end"]) for w in case["windows"].values()])
    tied = set(ends[ends.duplicated()])
    assert any((e["cc_num"], e["w_end"]) in tied for e in expected)  # a tie broken by primary key
    stored = case["profiles"].read()
    assert (stored.city == "upserted").sum() == 4 and not stored.duplicated(["cc_num", "event_time"]).any()
    record = case["view"].get_training_dataset(case["view"].last_training_dataset_version)
    assert all(gap is None or gap <= 0 for gap in record.leakage_audit["train"].values())
