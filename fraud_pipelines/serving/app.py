"""The REST service: `create_app()` builds the FastAPI app (run it with `make serve`).

    POST /predict            one charge -> score, decision, threshold, model version (reads only)
    POST /predict/batch      up to FRAUD_SERVING_MAX_BATCH charges, scored in order (reads only)
    POST /charges            one charge that happened, merged into its card's state (write token)
    GET  /health             model loaded? online store reachable? (503 when degraded)
    GET  /ready              200 once a model, the card state and the online store answer, else 503

Scoring never writes. The write path has its own token (FRAUD_SERVING_WRITE_TOKEN; without it
POST /charges is refused) and merges a charge atomically per card, so several workers lose no
charge of a burst. Bodies are validated straight from their JSON bytes (`bodies.validated`) with
the data contract's rules, resolved once. /predict and /predict/batch are plain ASGI endpoints
(`scoring_routes`, documented in the OpenAPI document as before): the card-state read never blocks
the event loop (Redis through its asyncio client, SQLite on a reader thread of the service's own), the
rest of a score runs on the loop, so /health answers while a store is slow. Bodies over
FRAUD_SERVING_MAX_BODY_BYTES get a 413 before they are read; a 422 lists at most ten errors, each
short, and never echoes a large input. With FRAUD_SERVING_TOKEN set, /predict* need a bearer
token; /health and /ready stay open for probes.
"""

from __future__ import annotations

import gc
import logging
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Route

from feature_logic.request_features import utc_micros
from fraud_pipelines.feature_store.errors import NotFoundError
from fraud_pipelines.feature_store.event_lists import EventMerge
from fraud_pipelines.serving.bodies import add_schemas, body_openapi, json_bytes, validated
from fraud_pipelines.serving.card_states import CardStateStore
from fraud_pipelines.serving.champion import ChampionHolder, ServingModel
from fraud_pipelines.serving.docs import add_offline_docs
from fraud_pipelines.serving.hot_path import ServingApp
from fraud_pipelines.serving.limits import BodySizeLimit, bounded_errors
from fraud_pipelines.serving.micro_batches import MicroBatcher
from fraud_pipelines.serving.reader_thread import ReaderThread
from fraud_pipelines.serving.schemas import (
    BatchPrediction,
    CardTokens,
    Charge,
    ChargeStored,
    Health,
    Prediction,
    Transaction,
    TransactionBatch,
    request_rules,
)
from fraud_pipelines.serving.scorer import FraudScorer, ServiceUnavailable
from fraud_pipelines.serving.scoring_routes import BearerCheck, ScoringRoute
from fraud_pipelines.serving.settings import ServingSettings
from fraud_pipelines.storage import Storage
from fraud_pipelines.training.registry import ModelRegistry

log = logging.getLogger(__name__)
_STATE_RETRY_SECONDS = 5.0
#: Threads that score /predict/batch requests (their many card-state reads are blocking I/O).
READ_THREADS = 4
#: How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). The event
#: loop waits for a reader thread's GIL at most this long; measured at 8 concurrent clients on SQLite
#: (4 runs each, load 4.5-6.9), server-side p99 2.9-34 ms with 5 ms, 2.8-12 ms with 0.5 ms.
GIL_SWITCH_SECONDS = 0.0005
FLAGS = {"include_features": "Return the model's input vector.",
         "include_reasons": "Return the top 3 reasons: the features' contributions (Saabas) to the score."}


class ServingService:
    """Everything a request needs: the champion holder and the card-state scorer, built lazily."""

    def __init__(self, settings: ServingSettings, storage: Storage, mlflow: ModelRegistry) -> None:
        self.settings = settings
        self.storage = storage
        self.fs = storage.feature_store()
        self.holder = ChampionHolder(mlflow, self.fs, poll_seconds=settings.poll_seconds)
        self.scorer: FraudScorer | None = None
        self.state_error: str | None = None
        self._state_tried = float("-inf")

    def start(self) -> None:
        """Load the champion and the card-state lookups, then keep the champion in step."""
        self.ensure_scorer()
        self.holder.start()

    def ensure_scorer(self) -> FraudScorer | None:
        """The scorer, prepared once the card-state groups hold data (retried every few seconds)."""
        if self.scorer is None and time.monotonic() - self._state_tried >= _STATE_RETRY_SECONDS:
            self._state_tried = time.monotonic()
            try:
                self.scorer = FraudScorer(CardStateStore(self.fs))
                self.state_error = None
            except NotFoundError:
                self.state_error = ("the card state feature groups are empty: materialize card_recent_charges_fg "
                                    "and card_versions_fg (`make demo` does)")
            except Exception as error:  # noqa: BLE001 -- e.g. the online store is down; retried
                self.state_error = f"card state: {type(error).__name__}: {error}"
        return self.scorer

    def card_states(self) -> CardStateStore:
        """The card-state store for the write path (no model needed), or ServiceUnavailable."""
        scorer = self.ensure_scorer()
        if scorer is None:
            raise ServiceUnavailable(self.state_error or "the card state is not available yet")
        return scorer.states

    def ready(self) -> tuple[ServingModel, FraudScorer]:
        """The model and scorer to use for one request, or ServiceUnavailable saying what is missing."""
        model = self.holder.current
        if model is None:
            raise ServiceUnavailable(self.holder.last_error or "the champion model is still loading")
        scorer = self.ensure_scorer()
        if scorer is None:
            raise ServiceUnavailable(self.state_error or "the card state is not available yet")
        return model, scorer

    def health(self) -> Health:
        """Liveness details for /health."""
        model = self.holder.current
        scorer = self.ensure_scorer()
        reachable = scorer.states.reachable() if scorer is not None else _store_answers(self.fs)
        ok = model is not None and reachable and scorer is not None
        return Health(
            status="ok" if ok else "degraded", model_loaded=model is not None,
            model_name=self.holder.mlflow.registered_model_name,
            model_version=model.version if model else None, model_loaded_at=model.loaded_at if model else None,
            training_dataset_version=model.training_dataset_version if model else None,
            online_store=self.storage.online_store_kind(), online_store_reachable=reachable,
            card_state_ready=scorer is not None, last_alias_check=self.holder.last_check,
            last_error=self.holder.last_error or self.state_error,
        )


def create_app(settings: ServingSettings | None = None, *, storage: Storage | None = None,
               mlflow: ModelRegistry | None = None) -> FastAPI:
    """The app; settings from FRAUD_SERVING_*, storage and MLflow from $FRAUD_HOME unless given."""
    settings = settings or ServingSettings.from_env()
    service = ServingService(settings, storage or Storage(), mlflow or ModelRegistry())

    executor = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="card-state")
    reader = ReaderThread()  # /predict's card-state reads (SQLite): one hand-off each way, cheaper than the pool's

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        sys.setswitchinterval(GIL_SWITCH_SECONDS)  # this process serves requests: its own setting
        if not app.enable_hot_routes(hot):
            log.info("the scoring routes go through the middleware stack (it does more than the body limit)")
        service.start()
        # What start-up made (the libraries, the model: ~400k objects) is never garbage; a full
        # collection would walk it all again, in the middle of a request.
        gc.collect()
        gc.freeze()
        yield
        if batcher.batches:
            log.info("scored %d /predict requests in %d micro-batches (%.2f a batch)", batcher.items, batcher.batches,
                     batcher.items / batcher.batches)
        service.holder.stop()
        executor.shutdown(wait=False, cancel_futures=True)
        reader.close()
        if service.scorer is not None:
            await service.scorer.states.aclose()

    app = ServingApp(title="Fraud scoring", version="1", lifespan=lifespan, docs_url=None,
                  description="Scores card charges with the registered champion model, using the same "
                  "features (bit for bit) and transformations as training.")
    app.state.service = service
    add_offline_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    guarded = [Depends(_bearer_guard(settings.token, "FRAUD_SERVING_TOKEN"))] if settings.token else []
    write_guarded = [Depends(_bearer_guard(settings.write_token, "FRAUD_SERVING_WRITE_TOKEN")
                             if settings.write_token else _writes_disabled)]
    skew_us = round(settings.max_skew_seconds * 1e6)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(_, error: ServiceUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each bad input in full (a 50 MB body came back as 314 MB).
        return JSONResponse({"detail": bounded_errors(list(error.errors()))}, status_code=422)

    # the data contract's categories and tid type, and the card tokenizer: resolved once, not per request
    context = {"rules": request_rules(), "card_tokens": CardTokens()}

    def score(transactions: list[Transaction], include_features: bool,
              include_reasons: bool = False) -> list[dict[str, Any]]:
        model, scorer = service.ready()
        return scorer.score(model, transactions, include_features=include_features, include_reasons=include_reasons)

    async def score_together(requests: list[tuple[Transaction, dict[str, bool]]]) -> list[dict[str, Any] | Exception]:
        """Concurrent /predict requests: one card-state read for all, one tree walk, an answer or error each."""
        # the first call (and retries while the card state is missing) opens the store: off the loop
        model, scorer = service.ready() if service.scorer is not None else await reader.run(service.ready)
        cards = [transaction.cc_num for transaction, _ in requests]
        if scorer.states.reads_async:
            states = await scorer.read_many_async(cards)
        else:
            states = await reader.run(scorer.read_many, cards)
        return scorer.score_each(model, [t for t, _ in requests], states, [flags for _, flags in requests])

    batcher = MicroBatcher(score_together)

    async def score_one(transaction: Transaction, flags: dict[str, bool]) -> dict[str, Any]:
        return await batcher.submit((transaction, flags))

    def score_batch(body: bytes, flags: dict[str, bool]) -> dict[str, Any]:
        batch = validated(TransactionBatch, body, context)
        if len(batch.transactions) > settings.max_batch:
            raise HTTPException(422, detail=[{
                "type": "too_long", "loc": ["body", "transactions"],
                "msg": f"at most {settings.max_batch} transactions per request, got {len(batch.transactions)}; "
                       "split the batch",
            }])
        return {"predictions": score(batch.transactions, **flags)}

    bearer = BearerCheck(settings.token, "FRAUD_SERVING_TOKEN") if settings.token else None
    common = {"flags": tuple(FLAGS), "context": context, "executor": executor, "bearer": bearer}
    hot = {"/predict": ScoringRoute(score_one=score_one, **common),
           "/predict/batch": ScoringRoute(score_many=score_batch, **common)}
    # Served before the middleware stack once started (`hot_path`); in the router too, for when they
    # cannot be. First there: a request is matched against the routes in order (the docs' come before).
    app.router.routes[:0] = [Route(path, route, methods=["POST"]) for path, route in hot.items()]
    # What the OpenAPI document says of those two routes: declarations that are never served.
    documented = APIRouter(dependencies=guarded)

    @documented.post("/predict", response_class=Response, responses={200: {"model": Prediction}},
                     summary="Score one charge", openapi_extra=body_openapi(Transaction, FLAGS))
    def predict() -> None: ...

    @documented.post("/predict/batch", response_class=Response, responses={200: {"model": BatchPrediction}},
                     summary="Score several charges in order", openapi_extra=body_openapi(TransactionBatch, FLAGS))
    def predict_batch() -> None: ...

    def add_charge(body: bytes) -> Any:
        charge = validated(Charge, body, context)
        micros = utc_micros(charge.datetime)
        now_us = time.time_ns() // 1_000
        if micros > now_us + skew_us:
            raise HTTPException(422, detail=[{
                "loc": ["body", "datetime"], "type": "too_far_in_future",
                "msg": f"more than {settings.max_skew_seconds:g} s after the server's clock "
                       "(FRAUD_SERVING_MAX_SKEW_SECONDS): a charge from the future is refused",
            }])
        states = service.card_states()
        try:
            outcome = states.add_charge(charge.cc_num, micros, charge.tid, float(charge.latitude),
                                        float(charge.longitude), float(charge.amount))
        except Exception as error:  # noqa: BLE001 -- any store failure is an outage, not a bad request
            raise ServiceUnavailable(f"online store write failed: {type(error).__name__}: {error}") from error
        if outcome is EventMerge.DUPLICATE:
            raise HTTPException(409, detail=f"tid {charge.tid!r} is already in card {charge.cc_num}'s state")
        if outcome is EventMerge.TOO_OLD:
            raise HTTPException(409, detail=f"charge {charge.tid!r} is at or before the card's retained window "
                                "(its latest charge minus 4 hours); the pipeline's batch writes carry older charges")
        return JSONResponse({"status": "stored", "cc_num": charge.cc_num, "tid": charge.tid}, status_code=201)

    @app.post("/charges", status_code=201, response_class=JSONResponse, dependencies=write_guarded,
              summary="Add a charge that happened to its card's state", openapi_extra=body_openapi(Charge),
              responses={201: {"model": ChargeStored},
                         409: {"description": "duplicate tid, or before the card's retained window"},
                         403: {"description": "the write path is disabled (no FRAUD_SERVING_WRITE_TOKEN)"}})
    async def charges(request: Request) -> Any:
        return await run_in_threadpool(add_charge, await json_bytes(request))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                                   description=app.description, routes=[*documented.routes, *app.routes])
            document = add_schemas(document, Transaction, TransactionBatch, Charge)
            if context["rules"].tid_type == "string":  # the examples must pass the contract's own rules
                for name in ("Transaction", "Charge"):
                    for example in document["components"]["schemas"][name].get("examples", []):
                        example["tid"] = str(example.get("tid", "987654321"))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", response_model=Health, summary="Model loaded, online store reachable")
    def health() -> Any:
        report = service.health()
        return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)

    @app.get("/ready", summary="Ready to score: a model, the card state, a reachable online store")
    def ready() -> Any:
        try:
            model, scorer = service.ready()
            if not scorer.states.reachable():
                raise ServiceUnavailable(f"the online store ({service.storage.online_store_kind()}) does not answer")
        except ServiceUnavailable as error:
            return JSONResponse({"ready": False, "reason": str(error)}, status_code=503)
        return {"ready": True, "model_version": model.version}

    return app


def _bearer_guard(token: str, variable: str):
    scheme = HTTPBearer(auto_error=False, description=variable, scheme_name=variable)

    async def guard(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(401, detail=f"missing or wrong bearer token (Authorization: Bearer <{variable}>)",
                                headers={"WWW-Authenticate": "Bearer"})
    return guard


async def _writes_disabled() -> None:
    raise HTTPException(403, detail="the write path is disabled: set FRAUD_SERVING_WRITE_TOKEN to accept charges")


def _store_answers(fs: Any) -> bool:
    """Whether the online store answers at all (before the card-state lookups exist)."""
    store = fs.online_store
    probe = getattr(store, "ping", None) or getattr(store, "_connection", None)  # Redis / SQLite
    try:
        return probe is None or bool(probe())
    except Exception:  # noqa: BLE001
        return False
