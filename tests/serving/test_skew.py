"""No training/serving skew: for sampled labelled charges, with each card's online state rebuilt
as of just before the charge from the offline feature group, the vector the running service
builds equals the training-data row bit for bit (after transformations), and its score, decision
and reason codes equal batch scoring's. Then the charge is written through POST /charges, and the card's
state equals the one the batch rebuilds. Once with the SQLite online store, once with Redis."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from feature_logic.card_state import decode_charges
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.scoring.assets import scores_table
from fraud_pipelines.serving.card_states import CardStateStore, recent_charges_as_of, write_online
from fraud_pipelines.serving.champion import load_serving_model
from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES
from fraud_pipelines.training import fraud_view

from .conftest import materialize
from .processes import redis_server, uvicorn_server

SAMPLE = 40
WRITE = {"Authorization": "Bearer skew-writer"}
SERVING = [dg.AssetKey("card_recent_charges_fg"), dg.AssetKey("card_versions_fg")]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def served(request, home, tmp_path_factory):
    """(HTTP client of the running service, its storage resource) for each online store."""
    logs = tmp_path_factory.mktemp("logs")
    if request.param == "sqlite":
        env = home.env(FRAUD_SERVING_WRITE_TOKEN="skew-writer")
        with uvicorn_server(env, logs / "sqlite.log") as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/ready").status_code == 200
            yield client, home.storage
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as redis_url:
        storage = StorageResource(root=str(home.path), online_store="redis", redis_url=redis_url)
        assert materialize(home, selection=SERVING, storage=storage).success  # the card state, into Redis
        env = home.env(FRAUD_ONLINE_STORE="redis", FRAUD_REDIS_URL=redis_url, FRAUD_SERVING_WRITE_TOKEN="skew-writer")
        with uvicorn_server(env, logs / "redis.log") as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/health").json()["online_store"] == "redis"
            yield client, storage


@pytest.fixture(scope="module")
def reasons_for_every_charge(home):
    """Batch scores re-run with reason codes on every charge (by default only alerts carry them)."""
    config = {"ops": {"batch_scores": {"config": {"reason_codes": "all"}}}}
    assert materialize(home, selection=[dg.AssetKey("batch_scores")], run_config=config).success


def _training_rows(fs, td_version: int) -> pd.DataFrame:
    fv = fs.get_feature_view(fraud_view.NAME, fraud_view.VERSION)
    splits = fv.get_train_validation_test_split(td_version, primary_key=True)
    return pd.concat(splits[:3], ignore_index=True).set_index("tid")


def _sample(raw: pd.DataFrame, labelled: pd.Index) -> pd.DataFrame:
    """Labelled charges that share their microsecond with no other charge of their card."""
    alone = ~raw.duplicated(["cc_num", "datetime"], keep=False) & raw["tid"].isin(labelled)
    return raw[alone].sample(SAMPLE, random_state=7).sort_values(["datetime", "tid"])


def _request(row, card_numbers: dict[int, int]) -> dict:
    """The charge as a client sends it: with the card's number (the service tokenizes it)."""
    return {"cc_num": card_numbers[int(row.cc_num)], "datetime": row.datetime.isoformat(), "amount": float(row.amount),
            "category": row.category, "latitude": float(row.latitude), "longitude": float(row.longitude),
            "tid": int(row.tid)}


def _same(served, trained) -> bool:
    if served is None:
        return math.isnan(trained)
    return np.float64(served).view(np.int64) == np.float64(trained).view(np.int64)


def test_served_vectors_and_scores_equal_training_rows_and_batch_scores(home, reasons_for_every_charge, served,
                                                                       card_numbers):
    service, storage = served
    fs = storage.feature_store()
    champion = home.mlflow.get_champion()
    training = _training_rows(fs, int(champion.training_dataset_version))
    batch = scores_table(home.storage).read().set_index("tid")
    raw = home.storage.raw_table("transactions").read()
    online_table = CARD_RECENT_CHARGES.get_or_create(fs).online_table()
    fs.online_store.teardown(online_table)  # the pipeline left each card's latest state: start from nothing
    fs.online_store.update(online_table)
    feature_names = list(home.mlflow.load_champion().feature_names)
    # the service scores one row with its numpy walk of the trees: the equalities below hold for it
    assert load_serving_model(home.mlflow, fs, champion.version).one_row_path == "flat trees"
    states = CardStateStore(fs)
    statuses = []
    for row in _sample(raw, training.index).itertuples():
        at = row.datetime.to_pydatetime()
        write_online(fs, recent_charges_as_of(fs, at, [row.cc_num]))
        response = service.post("/predict", params={"include_features": "true", "include_reasons": "true"},
                                json=_request(row, card_numbers))
        assert response.status_code == 200, response.text
        served = response.json()
        trained = training.loc[row.tid]
        assert list(served["features"]) == feature_names
        differing = {name: (value, trained[name]) for name, value in served["features"].items()
                     if not _same(value, trained[name])}
        assert not differing, f"tid {row.tid}: served vs training values differ: {differing}"
        assert served["score"] == batch.at[row.tid, "fraud_score"]
        assert (served["decision"] == "alert") == bool(batch.at[row.tid, "decision"])
        assert served["model_version"] == batch.at[row.tid, "model_version"] == champion.version
        assert served["card_status"] in ("known", "new")
        assert served["reasons"] == json.loads(batch.at[row.tid, "reasons"])  # the same reason codes
        contributions = [reason["contribution"] for reason in served["reasons"]]
        assert len(contributions) == 3 and contributions == sorted(contributions, reverse=True)
        statuses.append(served["card_status"])

        assert served["cc_num"] == row.cc_num  # answered with the token the tables hold
        stored = service.post("/charges", json=_request(row, card_numbers), headers=WRITE)
        assert stored.status_code == 201, stored.text
        written = fs.online_store.read(online_table, [(int(row.cc_num),)], ["datetime"])[0]
        rebuilt = recent_charges_as_of(fs, at + timedelta(microseconds=1), [row.cc_num])
        assert written == (at,)
        assert states.get(int(row.cc_num)).charges == decode_charges(rebuilt["charges"].iloc[0])  # = the batch's
    assert "known" in statuses
