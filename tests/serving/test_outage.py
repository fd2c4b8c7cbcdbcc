"""When the online store goes away, the service says so: 503s naming the store, never a crash
or a score computed without the card's state."""

from __future__ import annotations

import contextlib

import dagster as dg
import httpx

from fraud_pipelines.resources import StorageResource

from .conftest import materialize
from .processes import redis_server, uvicorn_server

SERVING = [dg.AssetKey("card_recent_charges_fg"), dg.AssetKey("card_versions_fg")]
CHARGE = {"cc_num": 5, "datetime": "2025-01-25T12:00:00Z", "amount": 10.0, "category": "Other",
          "latitude": 1.0, "longitude": 2.0}


def test_a_redis_outage_gives_503s_that_name_the_store(home, tmp_path):
    with contextlib.ExitStack() as stack:
        redis = contextlib.ExitStack()
        stack.callback(redis.close)
        redis_url = redis.enter_context(redis_server(tmp_path / "redis"))
        storage = StorageResource(root=str(home.path), online_store="redis", redis_url=redis_url)
        assert materialize(home, selection=SERVING, storage=storage).success
        env = home.env(FRAUD_ONLINE_STORE="redis", FRAUD_REDIS_URL=redis_url)
        url = stack.enter_context(uvicorn_server(env, tmp_path / "service.log"))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        assert client.post("/predict", json=CHARGE).status_code == 200
        assert client.get("/ready").status_code == 200

        redis.close()  # redis-server stops; the service keeps running
        refused = client.post("/predict", json=CHARGE)
        assert refused.status_code == 503 and "online store read failed" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "5"
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded" and not health.json()["online_store_reachable"]
        ready = client.get("/ready")
        assert ready.status_code == 503 and "redis" in ready.json()["reason"]
