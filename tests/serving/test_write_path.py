"""Scoring never writes, and the write path cannot be abused: the attacks a hostile client made on
the earlier service (a decoy charge, a replayed tid, a charge dated centuries ahead), replayed over
real HTTP (uvicorn on 127.0.0.1, SQLite online store), change no score; POST /charges needs its own
token and refuses duplicates, future times and times before the card's retained window, and one
refused event never stops the card from taking the next legitimate one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from .processes import uvicorn_server

READ, WRITE = "reader-token", "writer-token"
AS_READER = {"Authorization": f"Bearer {READ}"}
AS_WRITER = {"Authorization": f"Bearer {WRITE}"}
T0 = datetime(2025, 1, 25, 12, 0, tzinfo=timezone.utc)  # after the data, before the server's clock


@pytest.fixture(scope="module")
def api(home, tmp_path_factory):
    env = home.env(FRAUD_SERVING_TOKEN=READ, FRAUD_SERVING_WRITE_TOKEN=WRITE)
    with uvicorn_server(env, tmp_path_factory.mktemp("logs") / "write_path.log") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def cards(home, card_numbers) -> list[tuple[int, float, float]]:
    """Ten cards (their numbers, as clients send them) with their last known location."""
    raw = home.storage.raw_table("transactions").read().sort_values(["datetime", "tid"])
    last = raw.groupby("cc_num").tail(1).tail(10)
    return [(card_numbers[int(r.cc_num)], float(r.latitude), float(r.longitude)) for r in last.itertuples()]


def body(cc_num, at: datetime, latitude: float, longitude: float, tid: int | None = None, amount: float = 80.0) -> dict:
    charge = {"cc_num": cc_num, "datetime": at.isoformat(), "amount": amount, "category": "Electronics",
              "latitude": latitude, "longitude": longitude}
    return charge if tid is None else {**charge, "tid": tid}


def score(api, charge: dict) -> dict:
    response = api.post("/predict", params={"include_features": "true"}, json=charge, headers=AS_READER)
    assert response.status_code == 200, response.text
    return response.json()


def far(latitude: float, longitude: float) -> tuple[float, float]:
    """A place thousands of km away (the other side of the equator)."""
    return -latitude * 0.5, (longitude + 120.0) % 360 - 180


def test_decoy_charges_sent_for_scoring_change_no_score(api, cards):
    for index, (card, lat, lon) in enumerate(cards):
        home_charge = body(card, T0, lat, lon, tid=50_000 + index)
        assert api.post("/charges", json=home_charge, headers=AS_WRITER).status_code == 201
        away = far(lat, lon)
        travel = body(card, T0 + timedelta(minutes=5), *away)  # impossible travel: thousands of km in 5 minutes
        before = score(api, travel)
        assert before["features"]["loc_delta_t_minus_1"] > 1_000

        decoy = body(card, T0 + timedelta(minutes=4), *away, tid=60_000 + index)  # a charge "already there"
        score(api, decoy)
        api.post("/predict/batch", json={"transactions": [decoy, {**decoy, "tid": 70_000 + index}]},
                 headers=AS_READER)
        assert score(api, travel) == before

        if index == 0:  # the same decoy written through the write path does change it: the test can fail
            assert api.post("/charges", json=decoy, headers=AS_WRITER).status_code == 201
            assert score(api, travel)["features"]["loc_delta_t_minus_1"] < 1.0


def test_a_replayed_tid_changes_no_score_and_is_refused_by_the_write_path(api, cards):
    card, lat, lon = cards[1]
    real = body(card, T0 + timedelta(minutes=30), lat, lon, tid=80_001)
    assert api.post("/charges", json=real, headers=AS_WRITER).status_code == 201
    nxt = body(card, T0 + timedelta(minutes=31), lat + 0.01, lon)
    before = score(api, nxt)
    moved = {**real, "latitude": lat - 30.0, "longitude": lon}
    score(api, moved)  # the same tid from elsewhere, for scoring
    refused = api.post("/charges", json=moved, headers=AS_WRITER)
    assert refused.status_code == 409 and "already in card" in refused.json()["detail"]
    assert score(api, nxt) == before


def test_a_charge_from_the_future_is_refused_and_never_freezes_the_card(api, cards):
    card, lat, lon = cards[2]
    for stamp in ("2199-12-31T23:59:59Z", (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()):
        future = {**body(card, T0, lat, lon, tid=90_001), "datetime": stamp}
        score(api, future)  # scoring a future charge stores nothing
        refused = api.post("/charges", json=future, headers=AS_WRITER)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "datetime"] and "future" in refused.text
    too_far = {**body(card, T0, lat, lon, tid=90_002), "datetime": "9999-12-31T23:59:59Z"}
    assert api.post("/charges", json=too_far, headers=AS_WRITER).status_code == 422

    legit = body(card, T0 + timedelta(hours=2), lat, lon, tid=90_003)
    assert api.post("/charges", json=legit, headers=AS_WRITER).status_code == 201
    nxt = score(api, body(card, T0 + timedelta(hours=2, minutes=1), lat, lon))
    assert nxt["card_status"] == "known" and nxt["features"]["time_delta_t_minus_1"] == 60.0
    now = datetime.now(timezone.utc).replace(microsecond=0)
    assert api.post("/charges", json=body(card, now, lat, lon, tid=90_004), headers=AS_WRITER).status_code == 201


def test_charges_before_the_retained_window_are_refused_and_late_ones_inside_are_merged(api, cards):
    card, lat, lon = cards[3]
    latest = T0 + timedelta(days=1)
    assert api.post("/charges", json=body(card, latest, lat, lon, tid=95_001), headers=AS_WRITER).status_code == 201
    stale = api.post("/charges", json=body(card, latest - timedelta(hours=4), lat, lon, tid=95_002), headers=AS_WRITER)
    assert stale.status_code == 409 and "retained window" in stale.json()["detail"]
    late = body(card, latest - timedelta(hours=1), lat + 1.0, lon, tid=95_003, amount=10.0)
    assert api.post("/charges", json=late, headers=AS_WRITER).status_code == 201  # late but inside: merged in order
    nxt = score(api, body(card, latest + timedelta(minutes=1), lat, lon, amount=30.0))
    assert nxt["features"]["trans_freq"] == 3 and nxt["features"]["trans_volume_mavg"] == (80.0 + 10.0 + 30.0) / 3


def test_the_write_path_needs_its_own_token(api, home, cards, tmp_path):
    charge = body(cards[4][0], T0, cards[4][1], cards[4][2], tid=99_001)
    for headers in ({}, AS_READER, {"Authorization": "Bearer wrong"}):
        refused = api.post("/charges", json=charge, headers=headers)
        assert refused.status_code == 401 and "FRAUD_SERVING_WRITE_TOKEN" in refused.json()["detail"]
    assert api.post("/predict", json=charge, headers=AS_WRITER).status_code == 401  # writing is not reading
    missing_tid = {k: v for k, v in charge.items() if k != "tid"}
    assert api.post("/charges", json=missing_tid, headers=AS_WRITER).json()["detail"][0]["loc"] == ["body", "tid"]

    with uvicorn_server(home.env(), tmp_path / "no_writes.log") as url, httpx.Client(base_url=url, timeout=30) as plain:
        disabled = plain.post("/charges", json=charge, headers=AS_WRITER)
        assert disabled.status_code == 403 and "FRAUD_SERVING_WRITE_TOKEN" in disabled.json()["detail"]
        assert plain.post("/predict", json=charge).status_code == 200
