"""A data contract with string transaction ids, served over real HTTP (uvicorn on 127.0.0.1) from
SQLite and from Redis: /predict and POST /charges take string tids (and refuse integers, by name);
charges of one microsecond are ordered by (time, tid) as text, as the batch orders them, both when
stored and when a new charge is scored; a tid already stored is refused, and one already in the
card's state is not counted twice when scored; awkward ids (brackets, quotes, backslashes, commas,
non-ASCII) are kept exactly."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pyarrow as pa
import pytest

from feature_logic.card_state import RECENT_INPUT_COLUMNS, decode_charges, recent_charges
from feature_logic.on_demand import haversine_km
from fraud_pipelines.features.groups import TRANSACTIONS
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.serving.card_states import CardStateStore, write_online
from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES, CARD_VERSIONS

from .processes import redis_server, uvicorn_server

WRITE = {"Authorization": "Bearer text-writer"}
T0 = datetime(2025, 1, 25, 12, 0, tzinfo=timezone.utc)  # after the data, before the server's clock
SAME_TIME = ["T9", "T10", 'T-[1],"x"\\', "Ж7", "T1"]  # sorted as text: T-[1]..., T1, T10, T9, Ж7


def _string_state(home, storage: StorageResource) -> None:
    """The card state the pipeline would build under a string-tid contract: the same charges with
    their tids as text, written to `storage`'s online store (card versions copied as they are)."""
    offline = home.storage.feature_store()
    rows = TRANSACTIONS.get_or_create(offline).read(columns=list(RECENT_INPUT_COLUMNS))
    rows["tid"] = "T" + rows["tid"].astype(str)
    fs = storage.feature_store()
    charges = CARD_RECENT_CHARGES.get_or_create(fs).online_table()
    fs.online_store.teardown(charges)
    fs.online_store.update(charges)
    write_online(fs, recent_charges(rows, end=T0 - timedelta(days=1)))
    if storage.online_store == "redis":
        versions = CARD_VERSIONS.get_or_create(offline).online_table()
        keys = [(int(k),) for k in CARD_VERSIONS.get_or_create(offline).read(columns=["cc_num"])["cc_num"].unique()]
        found = [r for r in offline.online_store.read(versions, keys, versions.schema.names) if r is not None]
        fs.online_store.write_batch(versions, pa.Table.from_pylist(
            [dict(zip(versions.schema.names, r)) for r in found], schema=versions.schema))


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def served(request, home, tmp_path_factory, card_numbers):
    """(HTTP client of a service under a string-tid contract, its card-state store, a known card's
    number as clients send it); the store knows the card by its token (`token_of`)."""
    folder = tmp_path_factory.mktemp("text_ids")
    contract = folder / "contract.yaml"
    contract.write_text("name: text_ids\nsource: synthetic\ntid_type: string\n")
    env = home.env(FRAUD_CONTRACT=str(contract), FRAUD_SERVING_WRITE_TOKEN="text-writer")
    token = int(home.storage.raw_table("transactions").read().sort_values(["datetime", "tid"])["cc_num"].iloc[-1])
    card = card_numbers[token]
    if request.param == "sqlite":
        _string_state(home, home.storage)
        with uvicorn_server(env, folder / "sqlite.log") as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client, CardStateStore(home.storage.feature_store()), card
        return
    with redis_server(folder / "redis") as redis_url:
        storage = StorageResource(root=str(home.path), online_store="redis", redis_url=redis_url)
        _string_state(home, storage)
        env = {**env, "FRAUD_ONLINE_STORE": "redis", "FRAUD_REDIS_URL": redis_url}
        with uvicorn_server(env, folder / "redis.log") as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/health").json()["online_store"] == "redis"
            yield client, CardStateStore(storage.feature_store()), card


def token_of(card: int) -> int:
    """The token the service and the stores hold for a card number."""
    return tokenizer().token(card)


def charge(card: int, at: datetime, tid: str | int | None = None, latitude: float = 40.0, **changes) -> dict:
    body = {"cc_num": card, "datetime": at.isoformat(), "amount": 25.0, "category": "Grocery",
            "latitude": latitude, "longitude": 2.0, **changes}
    return body if tid is None else {**body, "tid": tid}


def features(api, body: dict) -> dict:
    response = api.post("/predict", params={"include_features": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_state_holds_string_tids_and_integers_are_refused(served):
    api, states, card = served
    stored = states.get(token_of(card)).charges
    assert stored and all(isinstance(c.tid, str) and c.tid.startswith("T") for c in stored)
    for path, headers in (("/predict", {}), ("/charges", WRITE)):
        refused = api.post(path, json=charge(card, T0, tid=123), headers=headers)
        assert refused.status_code == 422, refused.text
        error = refused.json()["detail"][0]
        assert error["loc"] == ["body", "tid"] and "tid_type is string" in error["msg"]
    too_long = api.post("/predict", json=charge(card, T0, tid="x" * 129))
    assert too_long.status_code == 422 and "1 to 128 characters" in too_long.text
    assert api.post("/predict", json=charge(card, T0, tid="")).status_code == 422
    scored = api.post("/predict", json=charge(card, T0, tid="T-new"))
    assert scored.status_code == 200 and scored.json()["tid"] == "T-new"
    example = api.get("/openapi.json").json()["components"]["schemas"]["Transaction"]["examples"][0]
    assert isinstance(example["tid"], str) and api.post("/predict", json=example).status_code == 200  # /docs' example


def test_charges_of_one_microsecond_are_ordered_as_text_and_duplicates_refused(served):
    api, states, card = served
    before = states.get(token_of(card)).charges
    at = T0 + timedelta(hours=1)
    shuffled = SAME_TIME[:]
    random.Random(5).shuffle(shuffled)
    for index, tid in enumerate(shuffled):
        stored = api.post("/charges", json=charge(card, at, tid, latitude=40.0 + index), headers=WRITE)
        assert stored.status_code == 201 and stored.json()["tid"] == tid, stored.text
    again = api.post("/charges", json=charge(card, at + timedelta(seconds=1), "T10"), headers=WRITE)
    assert again.status_code == 409 and "already in card" in again.json()["detail"]

    after = states.get(token_of(card)).charges
    assert after[0] == before[-1] and len(after) == 1 + len(SAME_TIME)  # the one before the window, then these
    assert [c.tid for c in after[1:]] == sorted(SAME_TIME)  # code point order, not numbers: T10 before T9
    # The batch's own rule orders the same charges the same way.
    frame = pd.DataFrame({"tid": [c.tid for c in after], "cc_num": token_of(card),
                          "datetime": pd.to_datetime([c.micros for c in after], unit="us", utc=True),
                          "latitude": [c.latitude for c in after], "longitude": [c.longitude for c in after],
                          "amount": [c.amount for c in after], "loc_delta_t_minus_1": 0.0})
    batch = recent_charges(frame.sample(frac=1, random_state=3), end=at + timedelta(microseconds=1))
    assert [(c[0], c[1]) for c in decode_charges(batch["charges"].iloc[0])] == [(c.micros, c.tid) for c in after]
    # Each stored charge's distance is from its text-order predecessor.
    for previous, current in zip(after, after[1:]):
        assert current.loc_delta == haversine_km(previous.latitude, previous.longitude, current.latitude,
                                                 current.longitude)


def test_scoring_orders_a_new_charge_among_same_time_ones_as_text(served):
    api, states, card = served
    at = T0 + timedelta(hours=6)  # 4 hours after the previous test's charges: a window of its own
    for index, tid in enumerate(["V9", "V1", "V10"]):
        assert api.post("/charges", json=charge(card, at, tid, latitude=30.0 + index), headers=WRITE).status_code == 201
    by_tid = {c.tid: c for c in states.get(token_of(card)).charges}
    # "V5" sorts between "V10" and "V9": its predecessor is "V10" (as numbers it would be "V1").
    scored = features(api, charge(card, at, "V5", latitude=10.0))["features"]
    predecessor = by_tid["V10"]
    assert scored["loc_delta_t_minus_1"] == haversine_km(predecessor.latitude, predecessor.longitude, 10.0, 2.0)
    assert scored["time_delta_t_minus_1"] == 0.0 and scored["trans_freq"] == 4

    # A charge whose tid is already in the state is not counted twice when it is scored.
    assert features(api, charge(card, at, "V9", latitude=30.0))["features"]["trans_freq"] == 3

    # In a batch, a later charge of the card sees the earlier one by its string tid.
    later = at + timedelta(minutes=1)
    pair = [charge(card, later, "U1"), charge(card, later + timedelta(seconds=30), "U2")]
    batch = api.post("/predict/batch", params={"include_features": "true"}, json={"transactions": pair})
    assert batch.status_code == 200, batch.text
    first, second = batch.json()["predictions"]
    assert [first["tid"], second["tid"]] == ["U1", "U2"]
    assert second["features"]["trans_freq"] == first["features"]["trans_freq"] + 1 == 5
    assert second["features"]["time_delta_t_minus_1"] == 30.0
