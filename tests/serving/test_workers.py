"""Several uvicorn workers write one card at once and lose nothing: bursts of charges for a single
card, sent concurrently through POST /charges to `make serve WORKERS=4`'s server, all end up in the
card's state, in (time, tid) order, with the distances the batch would compute -- on SQLite, on
Redis and on a 3-node Redis Cluster."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pytest

from feature_logic.on_demand import haversine_km
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.serving.card_states import CardStateStore

from .conftest import materialize
from .processes import redis_cluster, redis_server, uvicorn_server

WORKERS, CLIENTS, PER_CLIENT = 4, 8, 25
WRITE = {"Authorization": "Bearer burst-writer"}
CARD = 4_000_000_000_000_123
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
SERVING = [dg.AssetKey("card_recent_charges_fg"), dg.AssetKey("card_versions_fg")]


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def served(request, home, tmp_path):
    """(base URL of a 4-worker service, its storage) for each online store."""
    env = home.env(FRAUD_SERVING_WRITE_TOKEN="burst-writer")
    if request.param == "sqlite":
        with uvicorn_server(env, tmp_path / "sqlite.log", workers=WORKERS) as url:
            yield url, home.storage, tmp_path / "sqlite.log"
        return
    servers = redis_server if request.param == "redis" else redis_cluster
    with servers(tmp_path / "redis") as redis_url:
        storage = StorageResource(root=str(home.path), online_store="redis", redis_url=redis_url)
        assert materialize(home, selection=SERVING, storage=storage).success
        env = {**env, "FRAUD_ONLINE_STORE": "redis", "FRAUD_REDIS_URL": redis_url}
        with uvicorn_server(env, tmp_path / f"{request.param}.log", workers=WORKERS) as url:
            yield url, storage, tmp_path / f"{request.param}.log"


def all_workers_started(log, timeout: float = 90.0) -> bool:
    """Uvicorn opens the port with its first worker; wait until every worker has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count("Application startup complete") >= WORKERS:
            return True
        time.sleep(0.2)
    return False


def test_concurrent_bursts_on_one_card_across_workers_lose_no_charge(served):
    url, storage, log = served
    assert all_workers_started(log), log.read_text()[-2000:]
    card = CARD + len(log.name)  # another card per store
    failures: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            start.wait()
            for i in range(PER_CLIENT):
                tid = index * 1_000 + i
                at = T0 + timedelta(seconds=i * CLIENTS + index)  # interleaved: out of order across clients
                body = {"cc_num": card, "datetime": at.isoformat(), "amount": 1.0 + tid, "category": "Other",
                        "latitude": 40.0 + index, "longitude": 0.1 * i, "tid": tid}
                response = http.post("/charges", json=body, headers=WRITE)
                if response.status_code != 201:
                    failures.append(response.text[:200])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]

    charges = CardStateStore(storage.feature_store()).get(tokenizer().token(card)).charges
    assert len(charges) == CLIENTS * PER_CLIENT
    assert [c.tid for c in charges] == [k * 1_000 + i for i in range(PER_CLIENT) for k in range(CLIENTS)]
    assert [c.amount for c in charges] == [1.0 + c.tid for c in charges]
    assert charges[0].loc_delta == 0.0 and all(
        c.loc_delta == haversine_km(p.latitude, p.longitude, c.latitude, c.longitude)
        for p, c in zip(charges, charges[1:]))

    with httpx.Client(base_url=url, timeout=30) as http:
        nxt = {"cc_num": card, "datetime": (T0 + timedelta(hours=1)).isoformat(), "amount": 5.0, "category": "Other",
               "latitude": 40.0, "longitude": 0.0}
        scored = http.post("/predict", params={"include_features": "true"}, json=nxt).json()
    assert scored["features"]["trans_freq"] == CLIENTS * PER_CLIENT + 1
    assert log.read_text().count("Started server process") >= WORKERS
