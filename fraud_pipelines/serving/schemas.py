"""What the REST service accepts and returns. A bad request gets a 422 that names the field and
what was wrong with it (FastAPI's `detail` list), never a crash or a silent coercion."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from feature_logic.schema import CATEGORIES, MAX_AMOUNT

_INT64_MAX = 2**63 - 1


def _json_number(value: Any) -> Any:
    """Refuse strings and booleans where a number is expected (pydantic would convert them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a JSON number, got {type(value).__name__}")
    return value


Number = Annotated[float, BeforeValidator(_json_number)]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]

_EXAMPLE = {
    "cc_num": 4_444_037_300_542_691, "datetime": "2025-03-01T12:34:56.123456Z", "amount": 42.5,
    "category": "Grocery", "latitude": 48.8566, "longitude": 2.3522, "tid": 987_654_321,
}


class Transaction(BaseModel):
    """One card charge to score, as the raw `transactions` table describes it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    cc_num: StrictInt = Field(gt=0, le=_INT64_MAX, description="Card number.")
    datetime: AwareDatetime = Field(description="When the charge happened, ISO 8601 with a timezone.")
    amount: Number = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Charged amount.")
    category: Category = Field(description="Merchant category.")
    latitude: Number = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude, degrees.")
    longitude: Number = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude, degrees.")
    tid: StrictInt | None = Field(
        default=None, ge=0, le=_INT64_MAX,
        description="Your transaction id. With it the charge is remembered as the card's latest, so the next "
        "charges' distance, time delta and 4-hour window count it; the same tid twice scores the same.",
    )


class TransactionBatch(BaseModel):
    """Several charges, scored in the order given (later ones see the earlier ones of their card)."""

    model_config = ConfigDict(extra="forbid")

    transactions: list[Transaction] = Field(min_length=1, description="The charges, at most the server's limit.")


CardStatus = Literal["known", "new", "unknown", "out_of_order"]


class Prediction(BaseModel):
    """The champion's verdict on one charge."""

    tid: int | None = Field(description="The request's tid, if given.")
    cc_num: int
    score: float = Field(description="Fraud probability from the champion model, in [0, 1].")
    decision: Literal["alert", "pass"] = Field(description="alert when score >= threshold.")
    threshold: float = Field(description="The champion's alert threshold (chosen on validation data).")
    model_name: str
    model_version: str = Field(description="Registered model version that scored the charge.")
    card_status: CardStatus = Field(
        description="known: the card's recent charges were found. new: the card is known but has no charges "
        "yet (a first charge). unknown: the card is in no online group; it is scored as a first charge of "
        "an unknown owner and card (age and expiry missing), the documented fallback. out_of_order: the "
        "charge is older than what the card's state covers; its window and deltas are approximate."
    )
    remembered: bool = Field(description="Whether the charge is now the card's latest in the online store.")
    features: dict[str, float | int | None] | None = Field(
        default=None, description="The model's input vector (after transformations), with include_features=true."
    )


class BatchPrediction(BaseModel):
    """Predictions in the order of the request's transactions."""

    predictions: list[Prediction]


class Health(BaseModel):
    """Liveness details: is a model loaded, does the online store answer."""

    status: Literal["ok", "degraded"]
    model_loaded: bool
    model_name: str
    model_version: str | None
    model_loaded_at: str | None
    training_dataset_version: int | None
    online_store: str
    online_store_reachable: bool
    card_state_ready: bool
    last_alias_check: str | None
    last_error: str | None
