"""Micro-batches read many cards' states at once (one SQLite statement, one Redis script call, one
call per card on a Redis Cluster) and get exactly what one read per card gets; over HTTP,
concurrent /predict requests (coalesced into micro-batches) answer exactly as the same requests
sent one at a time."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import httpx
import pytest

from fraud_pipelines.resources import StorageResource
from fraud_pipelines.serving.card_states import CardStateStore

from .conftest import materialize
from .processes import redis_cluster, redis_server, uvicorn_server

SERVING = [dg.AssetKey("card_recent_charges_fg"), dg.AssetKey("card_versions_fg")]
LATER = "2025-01-25T12:00:00+00:00"


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def storage(request, home, tmp_path):
    if request.param == "sqlite":
        yield home.storage
        return
    servers = redis_server if request.param == "redis" else redis_cluster
    with servers(tmp_path / "redis") as redis_url:
        storage = StorageResource(root=str(home.path), online_store="redis", redis_url=redis_url)
        assert materialize(home, selection=SERVING, storage=storage).success
        yield storage


def test_many_cards_read_at_once_get_what_one_read_per_card_gets(storage, home):
    cards = home.storage.raw_table("transactions").read()["cc_num"].drop_duplicates().tolist()[:40]
    cards = [*cards, 1, 2, cards[0], cards[3]]  # unknown cards and repeats too
    states = CardStateStore(storage.feature_store())
    one_by_one = [states.get(card) for card in cards]
    assert sum(state.known for state in one_by_one) == 42 and not one_by_one[40].known  # 40 cards, 2 repeats
    assert states.get_many(cards) == one_by_one
    assert states.get_many(cards[:1]) == one_by_one[:1]

    async def read_async():
        try:
            if not states.reads_async:
                return None
            return await states.get_many_async(cards), await states.get_many_async(cards[:1])
        finally:
            await states.aclose()

    found = asyncio.run(read_async())
    if found is not None:
        assert found[0] == one_by_one and found[1] == one_by_one[:1]


def test_concurrent_predictions_answer_as_the_same_requests_one_at_a_time(home, card_numbers, tmp_path):
    cards = home.storage.raw_table("transactions").read()["cc_num"].drop_duplicates().tolist()[:24]
    bodies = [{"cc_num": card_numbers[card], "datetime": LATER, "amount": 10.0 + i, "category": "Grocery",
               "latitude": 40.0 + i / 10, "longitude": 2.0, "tid": 9_000_000 + i} for i, card in enumerate(cards)]
    bodies.append({**bodies[0], "amount": -1})  # a bad one among them gets its own 422
    with uvicorn_server(home.env(), tmp_path / "serve.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            alone = [client.post("/predict?include_features=true&include_reasons=true", json=b) for b in bodies]
        assert [r.status_code for r in alone] == [200] * 24 + [422]

        def post(body):
            with httpx.Client(base_url=url, timeout=30) as client:
                return [client.post("/predict?include_features=true&include_reasons=true", json=body)
                        for _ in range(3)]

        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(post, bodies))
    for single, repeated in zip(alone, together):
        for response in repeated:
            assert response.status_code == single.status_code and response.json() == single.json()
