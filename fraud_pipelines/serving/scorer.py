"""From a request's charge to a scored prediction: the card's online state, the request-time
features (`feature_logic.request_features`), the champion's training transformations through the
feature view, and the champion's trees. Plain synchronous code, a fraction of a millisecond, that
never writes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from feature_logic.request_features import (
    ChargeFeatures,
    NewCharge,
    StoredCharge,
    charge_features,
    remember_charge,
    utc_micros,
)
from fraud_pipelines.governance.reasons import reasons_for_vectors
from fraud_pipelines.serving.card_states import CardState, CardStateStore
from fraud_pipelines.serving.champion import ServingModel
from fraud_pipelines.serving.schemas import Transaction


class ServiceUnavailable(RuntimeError):
    """Scoring cannot happen now (no model, no card state, online store down); the message says why."""


@dataclass(frozen=True)
class BuiltVector:
    """A charge's model input and what the service knew about its card."""

    vector: list[Any]
    features: ChargeFeatures
    card_status: str


class FraudScorer:
    """Scores charges with one model and one card-state store. Scoring only reads: a charge enters
    its card's state through `CardStateStore.add_charge` (POST /charges) or the pipeline."""

    def __init__(self, states: CardStateStore) -> None:
        self.states = states

    def read(self, cc_num: int) -> CardState:
        """The card's state from the online store (blocking I/O); a store failure is ServiceUnavailable."""
        try:
            return self.states.get(cc_num)
        except Exception as error:  # noqa: BLE001 -- any store failure is an outage, not a bad request
            raise ServiceUnavailable(f"online store read failed: {type(error).__name__}: {error}") from error

    def read_many(self, cc_nums: list[int]) -> list[CardState]:
        """`read` for several cards (blocking I/O: run it off the event loop)."""
        try:
            return self.states.get_many(cc_nums)
        except Exception as error:  # noqa: BLE001 -- any store failure is an outage, not a bad request
            raise ServiceUnavailable(f"online store read failed: {type(error).__name__}: {error}") from error

    async def read_many_async(self, cc_nums: list[int]) -> list[CardState]:
        """`read_many` on the event loop, for a store with an asyncio client."""
        try:
            return await self.states.get_many_async(cc_nums)
        except Exception as error:  # noqa: BLE001 -- any store failure is an outage, not a bad request
            raise ServiceUnavailable(f"online store read failed: {type(error).__name__}: {error}") from error

    async def read_async(self, cc_num: int) -> CardState:
        """`read` on the event loop, for a store with an asyncio client (`CardStateStore.reads_async`)."""
        try:
            return await self.states.get_async(cc_num)
        except Exception as error:  # noqa: BLE001 -- any store failure is an outage, not a bad request
            raise ServiceUnavailable(f"online store read failed: {type(error).__name__}: {error}") from error

    def build(self, model: ServingModel, transaction: Transaction,
              earlier: dict[int, tuple[StoredCharge, ...]] | None = None,
              state: CardState | None = None) -> BuiltVector:
        """The model's input vector for one charge, from its card's `state` (read from the store when not
        given). With `earlier` (a batch's scratch memory), the card's state includes the batch's earlier
        charges with a tid, and this one is added to it."""
        micros = utc_micros(transaction.datetime)
        amount = float(transaction.amount)
        latitude, longitude = float(transaction.latitude), float(transaction.longitude)
        charge = NewCharge(micros, transaction.tid, transaction.category, amount, latitude, longitude)
        if state is None:
            state = self.read(transaction.cc_num)
        charges = state.charges if earlier is None else earlier.get(transaction.cc_num, state.charges)
        if charges and transaction.tid is not None and type(charges[0].tid) is not type(transaction.tid):
            raise ServiceUnavailable(
                f"card {transaction.cc_num}'s stored charges have {type(charges[0].tid).__name__} tids, but the data "
                f"contract's tid_type gives {type(transaction.tid).__name__} ones: the online state was built under "
                "another contract; rebuild it (card_recent_charges_fg) or serve with the contract it was built with")
        features = charge_features(charge, charges, state.profile_versions, state.card_versions)
        if not features.complete:
            status = "out_of_order"
        elif state.known or charges:
            status = "known"
        else:
            status = "new" if state.has_versions else "unknown"
        if earlier is not None and transaction.tid is not None:
            remembered = remember_charge(charges, StoredCharge(micros, transaction.tid, latitude, longitude, amount,
                                                               features.loc_delta_t_minus_1))
            if remembered is not None:
                earlier[transaction.cc_num] = remembered
        return BuiltVector(model.vector(features.as_dict()), features, status)

    def score(self, model: ServingModel, transactions: list[Transaction], *, include_features: bool,
              include_reasons: bool = False, states: list[CardState] | None = None) -> list[dict[str, Any]]:
        """Predictions in request order; a charge sees the same batch's earlier charges of its card
        that carry a tid (in memory only: nothing is stored). `states`: the cards' states, already
        read (one per transaction); read here otherwise."""
        earlier: dict[int, tuple[StoredCharge, ...]] | None = {} if len(transactions) > 1 else None
        if states is None:
            built = [self.build(model, t, earlier) for t in transactions]
        else:
            built = [self.build(model, t, earlier, state) for t, state in zip(transactions, states, strict=True)]
        scores = model.predict([b.vector for b in built])
        alerts = scores >= model.threshold  # compared as batch scoring does (float32 scores)
        reasons = reasons_for_vectors(model, [b.vector for b in built], [b.features.as_dict() for b in built]) \
            if include_reasons else None
        return [_prediction(model, transaction, item, score, alert, include_features,
                            None if reasons is None else reasons[index])
                for index, (transaction, item, score, alert)
                in enumerate(zip(transactions, built, scores.tolist(), alerts.tolist()))]

    def score_each(self, model: ServingModel, transactions: list[Transaction], states: list[CardState],
                   flags: list[dict[str, bool]]) -> list[dict[str, Any] | Exception]:
        """Independent charges (concurrent /predict requests), each with its card's state and its own
        flags: per charge its prediction, or the error its request answers with. Unlike `score`, no
        charge sees another's; the trees walk all the rows at once."""
        out: list[dict[str, Any] | Exception] = [RuntimeError("not scored")] * len(transactions)
        built: list[tuple[int, BuiltVector]] = []
        for index, (transaction, state) in enumerate(zip(transactions, states, strict=True)):
            try:
                built.append((index, self.build(model, transaction, state=state)))
            except Exception as error:  # noqa: BLE001 -- this charge's error, answered to its own request
                out[index] = error
        if not built:
            return out
        if len(built) == 1:  # one request alone (always at concurrency 1): no arrays around one row
            score = model.predict_one(built[0][1].vector)
            scored = [(built[0], score, score >= model.threshold)]
        else:
            scores = model.predict([item.vector for _, item in built])
            scored = zip(built, scores.tolist(), (scores >= model.threshold).tolist())
        for (index, item), score, alert in scored:
            wanted = flags[index]
            reasons = reasons_for_vectors(model, [item.vector], [item.features.as_dict()])[0] \
                if wanted.get("include_reasons") else None  # one row: the checked tree walk, not XGBoost's call
            out[index] = _prediction(model, transactions[index], item, score, alert,
                                     wanted.get("include_features", False), reasons)
        return out


def _prediction(model: ServingModel, transaction: Transaction, item: BuiltVector, score: float, alert: bool,
                include_features: bool, reasons: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One charge's answer."""
    prediction = {
        "tid": transaction.tid, "cc_num": transaction.cc_num, "score": score,
        "decision": "alert" if alert else "pass", "threshold": model.threshold,
        "model_name": model.name, "model_version": model.version, "card_status": item.card_status,
    }
    if reasons is not None:
        prediction["reasons"] = reasons
    if include_features:
        prediction["features"] = {name: _json_value(v) for name, v in zip(model.feature_names, item.vector)}
    return prediction


def _json_value(value: Any) -> Any:
    """NaN (a missing feature) as null: JSON has no NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value
