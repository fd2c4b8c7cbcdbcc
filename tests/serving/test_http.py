"""The REST service over real HTTP (uvicorn on 127.0.0.1): good requests, every kind of bad
request, the unknown-card fallback, batches, the write path, bearer auth on and off, and a
champion change picked up without a restart."""

from __future__ import annotations

import json
import time

import dagster as dg
import httpx
import pytest

from feature_logic.on_demand import haversine_km
from fraud_pipelines.privacy.tokens import tokenizer

from .conftest import materialize
from .processes import uvicorn_server

TOKEN = "s3cret-token"
WRITE_TOKEN = "wr1te-token"
WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}
MAX_BATCH = 3
LATER = "2025-01-25T12:00:00+00:00"  # well after the data: no charge of any card in the 4 hours before
TRAINING = [dg.AssetKey(k) for k in ("training_dataset", "feature_selection", "model_tuning", "fraud_model",
                                      "model_evaluation", "registered_model")]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def api(home, logs):
    """The service without auth, checking the alias every 0.3 s."""
    env = home.env(FRAUD_SERVING_MAX_BATCH=str(MAX_BATCH), FRAUD_SERVING_WRITE_TOKEN=WRITE_TOKEN)
    with uvicorn_server(env, logs / "open.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def known_card(home, card_numbers) -> int:
    """The card number (what a client posts) of the card with the latest stored charge."""
    raw = home.storage.raw_table("transactions").read()
    return card_numbers[int(raw.sort_values(["datetime", "tid"])["cc_num"].iloc[-1])]


def charge(cc_num: int, **changes) -> dict:
    body = {"cc_num": cc_num, "datetime": LATER, "amount": 42.5, "category": "Grocery", "latitude": 48.85,
            "longitude": 2.35}
    return {**body, **changes}


def test_health_and_ready(api):
    health = api.get("/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok" and body["model_loaded"] and body["model_version"] == "1"
    assert body["online_store"] == "sqlite" and body["online_store_reachable"] and body["card_state_ready"]
    assert api.get("/ready").json() == {"ready": True, "model_version": "1"}


def test_a_known_card_is_scored_and_its_next_charges_see_the_first_once_written(api, home, known_card):
    first = api.post("/predict", json=charge(known_card, tid=9_000_001))
    assert first.status_code == 200, first.text
    scored = first.json()
    assert set(scored) == {"tid", "cc_num", "score", "decision", "threshold", "model_name", "model_version",
                           "card_status"}  # no features unless asked
    assert 0.0 <= scored["score"] <= 1.0 and scored["model_version"] == "1"
    assert scored["decision"] == ("alert" if scored["score"] >= scored["threshold"] else "pass")
    assert scored["card_status"] == "known"
    assert api.post("/predict", json=charge(known_card, tid=9_000_001)).json() == scored  # scoring stored nothing
    stored = api.post("/charges", json=charge(known_card, tid=9_000_001), headers=WRITE)
    token = tokenizer().token(known_card)
    assert scored["cc_num"] == token  # the answer names the card by its token only
    assert stored.status_code == 201 and stored.json() == {"status": "stored", "cc_num": token, "tid": 9_000_001}

    one_minute_later = charge(known_card, tid=9_000_002, datetime="2025-01-25T12:01:00Z", latitude=48.95,
                              category="Electronics", amount=999.0)
    second = api.post("/predict", params={"include_features": "true"}, json=one_minute_later).json()
    features = second["features"]
    assert list(features) == list(home.mlflow.load_champion().feature_names)
    assert features["trans_freq"] == 2 and features["time_delta_t_minus_1"] == 60.0
    assert features["loc_delta_t_minus_1"] == haversine_km(48.85, 2.35, 48.95, 2.35)
    assert features["trans_volume_mavg"] == (42.5 + 999.0) / 2 and features["amount"] == 999.0
    assert isinstance(features["category"], int) and features["category"] >= 0  # label-encoded as in training

    replay = api.post("/predict", params={"include_features": "true"}, json=one_minute_later).json()
    assert replay == second  # the same tid twice: the same answer
    assert api.post("/charges", json=charge(known_card, tid=9_000_001, latitude=10.0), headers=WRITE).status_code == 409


def test_unknown_card_gets_the_documented_fallback(api):
    response = api.post("/predict", params={"include_features": "true"}, json=charge(1, tid=9_100_000))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["card_status"] == "unknown"
    features = body["features"]
    assert features["age_at_transaction"] is None and features["days_until_card_expires"] is None
    assert features["time_delta_t_minus_1"] is None and features["loc_delta_t_minus_1"] == 0.0
    assert features["trans_freq"] == 1
    assert api.post("/predict", json=charge(1, tid=9_100_001)).json()["card_status"] == "unknown"  # nothing stored
    assert api.post("/charges", json=charge(1, tid=9_100_000), headers=WRITE).status_code == 201
    again = api.post("/predict", json=charge(1, tid=9_100_001, datetime="2025-01-25T12:00:30Z")).json()
    assert again["card_status"] == "known"  # written: now it has a history


def test_batch_scores_in_order_and_is_bounded(api, known_card):
    batch = [charge(2, tid=9_200_000), charge(2, tid=9_200_001, datetime="2025-01-25T12:00:10Z"),
             charge(known_card)]
    response = api.post("/predict/batch", params={"include_features": "true"}, json={"transactions": batch})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["tid"] for p in predictions] == [9_200_000, 9_200_001, None]
    assert [p["features"]["trans_freq"] for p in predictions[:2]] == [1, 2]
    assert predictions[1]["features"]["time_delta_t_minus_1"] == 10.0
    single = api.post("/predict", json=charge(known_card)).json()
    assert single["score"] == predictions[2]["score"]
    alone = api.post("/predict", params={"include_features": "true"}, json=batch[1]).json()
    assert alone["features"]["trans_freq"] == 1  # the batch kept nothing

    too_many = api.post("/predict/batch", json={"transactions": [charge(3)] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422 and f"at most {MAX_BATCH} transactions" in too_many.text
    assert api.post("/predict/batch", json={"transactions": []}).status_code == 422


BAD_BODIES = [
    ({k: v for k, v in charge(5).items() if k != "amount"}, ["body", "amount"], "Field required"),
    (charge("44x4"), ["body", "cc_num"], "string of 1 to 19 digits"),
    (charge("12345678901234567890"), ["body", "cc_num"], "string of 1 to 19 digits"),
    (charge(4.5), ["body", "cc_num"], "integer or a string of digits"),
    (charge(True), ["body", "cc_num"], "integer or a string of digits"),
    (charge(0), ["body", "cc_num"], "card number of 1 to 19 digits"),
    (charge("0"), ["body", "cc_num"], "card number of 1 to 19 digits"),
    (charge(10**19), ["body", "cc_num"], "card number of 1 to 19 digits"),
    (charge(5, amount="12.5"), ["body", "amount"], "must be a JSON number"),
    (charge(5, amount=True), ["body", "amount"], "must be a JSON number"),
    (charge(5, amount=-1), ["body", "amount"], "greater than 0"),
    (charge(5, amount=0), ["body", "amount"], "greater than 0"),
    (charge(5, amount=50_000.01), ["body", "amount"], "less than or equal to 50000"),
    (charge(5, datetime="2025-01-25T12:00:00"), ["body", "datetime"], "timezone"),
    (charge(5, datetime="yesterday"), ["body", "datetime"], "valid datetime"),
    (charge(5, datetime=1_735_000_000), ["body", "datetime"], "ISO 8601 string"),
    (charge(5, datetime="0001-01-01T00:00:00+14:00"), ["body", "datetime"], "from 1900-01-01 up to 2200"),
    (charge(5, datetime="9999-12-31T23:59:59-14:00"), ["body", "datetime"], "from 1900-01-01 up to 2200"),
    (charge(5, category="Casino"), ["body", "category"], "Grocery"),
    (charge(5, latitude=90.5), ["body", "latitude"], "less than or equal to 90"),
    (charge(5, longitude=-180.5), ["body", "longitude"], "greater than or equal to -180"),
    (charge(5, tid=-3), ["body", "tid"], "greater than or equal to 0"),
    (charge(5, merchant="ACME"), ["body", "merchant"], "Extra inputs are not permitted"),
    ([charge(5)], ["body"], "should be an object"),
]


@pytest.mark.parametrize(("body", "loc", "message"), BAD_BODIES)
def test_bad_requests_get_a_422_naming_the_field(api, body, loc, message):
    response = api.post("/predict", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


def test_malformed_or_non_json_bodies_and_bad_options(api):
    assert api.post("/predict", content=b'{"cc_num": 5,', headers={"content-type": "application/json"}).json()[
        "detail"][0]["type"] == "json_invalid"
    not_a_number = json.dumps(charge(5)).replace("42.5", "NaN")
    refused = api.post("/predict", content=not_a_number, headers={"content-type": "application/json"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["input"] == "nan"
    assert api.post("/predict", content=b"cc_num=5", headers={"content-type": "text/plain"}).status_code == 422
    assert api.post("/predict", params={"include_features": "maybe"}, json=charge(5)).status_code == 422
    assert api.get("/predict").status_code == 405
    assert api.post("/predict", json=charge(5)).status_code == 200  # nothing broke on the way
    assert api.get("/health").json()["status"] == "ok"


def test_bearer_auth_when_a_token_is_configured(home, logs, api):
    with uvicorn_server(home.env(FRAUD_SERVING_TOKEN=TOKEN), logs / "auth.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
                refused = client.post("/predict", json=charge(5), headers=headers)
                assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
                assert "bearer token" in refused.json()["detail"]
            refused = client.post("/predict/batch", json={"transactions": [charge(5)]})
            assert refused.status_code == 401
            good = {"Authorization": f"Bearer {TOKEN}"}
            assert client.post("/predict", json=charge(5), headers=good).status_code == 200
            assert client.post("/predict/batch", json={"transactions": [charge(5)]}, headers=good).status_code == 200
            assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
    assert api.post("/predict", json=charge(5)).status_code == 200  # auth off: no header needed


def _wait_for_version(api, version: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = api.get("/health").json()
        if health["model_version"] == version:
            return health
        time.sleep(0.2)
    raise AssertionError(f"the service still serves {health['model_version']} after {timeout}s: {health}")


def test_a_champion_change_is_picked_up_without_a_restart(api, home, known_card):
    weaker = materialize(home, selection=TRAINING, run_config={"ops": {"fraud_model": {"config": {
        "drop_features": ["trans_freq", "loc_delta_mavg"], "n_estimators": 5, "max_depth": 2}}}})
    assert weaker.success and weaker.output_for_node("registered_model")["version"] == "2"
    before = api.post("/predict", params={"include_features": "true"}, json=charge(known_card)).json()
    assert before["model_version"] == "1"

    home.mlflow.set_champion("2")
    _wait_for_version(api, "2")
    after = api.post("/predict", params={"include_features": "true"}, json=charge(known_card)).json()
    assert after["model_version"] == "2" and after["score"] != before["score"]
    assert "trans_freq" not in after["features"] and "trans_freq" in before["features"]

    home.mlflow.set_champion("1")
    _wait_for_version(api, "1")
    assert api.post("/predict", json=charge(known_card)).json()["score"] == before["score"]


def test_a_card_number_may_come_as_a_digit_string(api, known_card):
    as_number = api.post("/predict", json=charge(known_card)).json()
    as_text = api.post("/predict", json=charge(str(known_card)))
    assert as_text.status_code == 200 and as_text.json() == as_number
    big = 9_007_199_254_740_993  # above 2**53: a JavaScript number would round it
    answer = api.post("/predict", json=charge(str(big)))
    assert answer.json()["cc_num"] == tokenizer().token(big) and str(big) not in answer.text
    longest = "6" * 19  # 19 digits, beyond int64: tokenized like any other
    assert api.post("/predict", json=charge(longest)).json()["cc_num"] == tokenizer().token(longest)


def test_docs_work_offline_and_their_example_never_writes(api):
    page = api.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[-1]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = api.get(f"/docs-assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000
    example = api.get("/openapi.json").json()["components"]["schemas"]["Transaction"]["examples"][0]
    first, again = (api.post("/predict", json=example).json() for _ in range(2))
    assert first["score"] == again["score"]  # "Try it out" scores; it never writes the card's state


def test_categories_follow_the_data_contract(home, logs, known_card, tmp_path):
    """A contract with an open vocabulary serves unseen categories (encoded as unknown, as in training);
    the built-in contract refuses them by name."""
    contract = tmp_path / "open.yaml"
    contract.write_text("name: synthetic\nsource: synthetic\ncategories: open\n")
    with uvicorn_server(home.env(FRAUD_CONTRACT=str(contract)), logs / "open-categories.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            scored = client.post("/predict", params={"include_features": "true"},
                                 json=charge(known_card, category="grocery_pos"))
    assert scored.status_code == 200, scored.text
    assert scored.json()["features"]["category"] == -1
    with uvicorn_server(home.env(), logs / "closed-categories.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            refused = client.post("/predict", json=charge(known_card, category="grocery_pos"))
    assert refused.status_code == 422 and "data contract's categories" in refused.text
