"""Small, seeded data and a fresh feature store under tmp_path for every test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from serving.processes import redis_server

from fraud_pipelines.feature_store import FeatureStore, SQLiteOnlineStore
from fraud_pipelines.feature_store.redis_online_store import RedisOnlineStore

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    """An empty feature store rooted in the test's own folder."""
    return FeatureStore(tmp_path / "store")


def transactions(day: int, n: int = 40, *, seed: int = 0, first_tid: int | None = None) -> pd.DataFrame:
    """`n` charges on day `day` (0-based after DAY0), tids unique per day."""
    rng = np.random.default_rng(seed + day)
    start = day * 1000 if first_tid is None else first_tid
    return pd.DataFrame(
        {
            "tid": np.arange(start, start + n, dtype=np.int64),
            "cc_num": rng.integers(1, 6, n).astype(np.int64),
            "datetime": DAY0 + pd.Timedelta(days=day) + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s"),
            "category": rng.choice(["Grocery", "Travel", "Cash"], n),
            "amount": rng.lognormal(3, 1, n).round(2),
        }
    )


def build_fraud_like(store: FeatureStore, days: int = 4) -> dict:
    """Labels (spine), transactions joined on tid, per-card aggregates and profiles (both online)."""
    tx = pd.concat([transactions(d) for d in range(days)], ignore_index=True)
    final = tx.groupby("cc_num").tail(1).assign(datetime=DAY0 + pd.Timedelta(days=days + 1))
    final["tid"] = np.arange(90_000, 90_000 + len(final))  # each card's last charge comes after everything
    tx = pd.concat([tx, final], ignore_index=True)
    rng = np.random.default_rng(1)
    labels = tx[["tid", "cc_num", "datetime"]].assign(is_fraud=rng.integers(0, 2, len(tx)).astype(np.int8))
    ordered = tx.sort_values(["datetime", "tid"])
    aggs = ordered[["cc_num", "datetime"]].assign(
        tx_count=ordered.groupby("cc_num").cumcount() + 1,
        mean_amount=ordered.groupby("cc_num").amount.transform(lambda s: s.expanding().mean()),
    )
    aggs = aggs[aggs.datetime < DAY0 + pd.Timedelta(days=days)]  # the final charges have no aggregate yet
    cards = sorted(tx.cc_num.unique())
    profiles = pd.DataFrame(
        [
            {
                "cc_num": c,
                "event_time": DAY0 + pd.Timedelta(days=v, hours=int(c)),
                "city": ["Oslo", "Rome", "Lima"][(c + v) % 3],
                "age": int(20 + c + v),
            }
            for c in cards
            for v in range(-1, days, 2)
        ]
    )
    groups = {
        "labels": store.get_or_create_feature_group("fraud_labels", primary_key=["tid"], event_time="datetime"),
        "tx": store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime"),
        "aggs": store.get_or_create_feature_group("card_aggs", primary_key=["cc_num"], event_time="datetime",
                                                  online_enabled=True),
        "profiles": store.get_or_create_feature_group("profiles", primary_key=["cc_num"], event_time="event_time",
                                                      online_enabled=True),
    }
    groups["labels"].insert(labels)
    groups["tx"].insert(tx)
    groups["aggs"].insert(aggs)
    groups["profiles"].insert(profiles)
    query = (
        groups["labels"].select_all()
        .join(groups["tx"].select(["category", "amount"]), on=["tid"])
        .join(groups["aggs"].select(["tx_count", "mean_amount"]), on=["cc_num"])
        .join(groups["profiles"].select(["city", "age"]), on=["cc_num"], prefix="profile_")
    )
    return {"groups": groups, "query": query, "tx": tx, "labels": labels}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def online_store(request, tmp_path):
    """An empty online store of each backend: SQLite in a file, Redis on a local server."""
    if request.param == "sqlite":
        yield SQLiteOnlineStore(tmp_path / "online.sqlite")
    else:
        namespace = f"e{abs(hash(request.node.nodeid))}"
        redis_store = RedisOnlineStore(request.getfixturevalue("redis_url"), namespace=namespace)
        yield redis_store
        redis_store.close()
