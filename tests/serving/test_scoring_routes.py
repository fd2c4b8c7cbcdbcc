"""The plain ASGI scoring routes keep what FastAPI's routes did: the bearer check (scheme in any case,
constant-time compare, the same 401), boolean flags read as FastAPI reads a bool (a 422 naming the
query parameter otherwise), bodies sent in chunks, and an OpenAPI document that still describes both
routes; the served champion's reasons come from the tree walk, as XGBoost's approx_contribs."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from fraud_pipelines.governance.reasons import Explainer, top_reasons
from fraud_pipelines.serving.champion import load_serving_model
from fraud_pipelines.serving.scoring_routes import BearerCheck, query_flags

from .processes import uvicorn_server

TOKEN = "s3cret-token"
LATER = "2025-01-25T12:00:00+00:00"
FLAGS = ("include_features", "include_reasons")


def test_query_flags_read_as_fastapi_reads_a_bool():
    assert query_flags(b"", FLAGS) == {"include_features": False, "include_reasons": False}
    assert query_flags(b"include_reasons=yes&other=1", FLAGS) == {"include_features": False, "include_reasons": True}
    assert query_flags(b"include_features=1&include_features=off", FLAGS)["include_features"] is False  # the last
    with pytest.raises(RequestValidationError) as refused:
        query_flags(b"include_reasons=maybe", FLAGS)
    assert refused.value.errors()[0]["loc"] == ("query", "include_reasons")


def test_the_bearer_check_accepts_the_token_only():
    check = BearerCheck(TOKEN, "FRAUD_SERVING_TOKEN")
    check([(b"host", b"x"), (b"authorization", f"Bearer {TOKEN}".encode())])
    check([(b"authorization", f"bearer  {TOKEN} ".encode())])  # the scheme in any case, spaces around the token
    for headers in ([], [(b"authorization", TOKEN.encode())], [(b"authorization", f"Basic {TOKEN}".encode())],
                    [(b"authorization", b"Bearer wrong")], [(b"authorization", b"Bearer ")]):
        with pytest.raises(HTTPException) as refused:
            check(headers)
        assert refused.value.status_code == 401 and refused.value.headers == {"WWW-Authenticate": "Bearer"}
        assert "FRAUD_SERVING_TOKEN" in refused.value.detail


@pytest.fixture(scope="module")
def api(home, tmp_path_factory):
    with uvicorn_server(home.env(FRAUD_SERVING_TOKEN=TOKEN), tmp_path_factory.mktemp("logs") / "routes.log") as url:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client


def test_the_openapi_document_still_describes_the_scoring_routes(api):
    document = api.get("/openapi.json").json()
    for path, body in (("/predict", "Transaction"), ("/predict/batch", "TransactionBatch")):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{body}")
        assert [p["name"] for p in operation["parameters"]] == list(FLAGS)
        assert operation["security"] == [{"FRAUD_SERVING_TOKEN": []}]
        assert "200" in operation["responses"]
    assert "get" not in document["paths"]["/predict"] and api.get("/predict").status_code == 405


def test_a_chunked_body_is_read_and_the_reasons_are_xgboosts(api, home, card_numbers):
    card = next(iter(card_numbers.values()))
    body = (f'{{"cc_num": {card}, "datetime": "{LATER}", "amount": 42.5, "category": "Grocery", '
            '"latitude": 48.85, "longitude": 2.35}').encode()

    def chunks():
        yield body[:20]
        yield body[20:]

    scored = api.post("/predict?include_features=true&include_reasons=true", content=chunks(),
                      headers={"content-type": "application/json"})
    assert scored.status_code == 200, scored.text
    answer = scored.json()
    model = load_serving_model(home.mlflow, home.storage.feature_store(), answer["model_version"])
    assert model.contributions_path == "flat trees"
    vector = np.array([[np.nan if v is None else v for v in answer["features"].values()]], dtype=np.float64)
    explainer = Explainer(model.booster, model.feature_names, model.iteration_range, model.missing, "saabas")
    expected = top_reasons(explainer.contributions(vector), vector, model.feature_names,
                           readable={"category": ["Grocery"]})[0]
    assert answer["reasons"] == expected
