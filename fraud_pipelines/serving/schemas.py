"""What the REST service accepts and returns. A bad request gets a 422 that names the field and
what was wrong with it (FastAPI's `detail` list), never a crash or a silent coercion.

What the data contract decides (the categories, whether tids are integers or strings) comes in as
`RequestRules` through pydantic's validation context: the service resolves the contract once,
not per request; without a context (e.g. from Python) the contract in force is read."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
)

from feature_logic.request_features import utc_micros
from feature_logic.schema import MAX_AMOUNT
from fraud_pipelines.contract import DataContract
from fraud_pipelines.contract import active as active_contract
from fraud_pipelines.privacy.tokens import MAX_PAN, Tokenizer, tokenizer

_INT64_MAX = 2**63 - 1
#: Longest string tid a request may carry (string ids are kept exactly; this bounds what one costs).
MAX_TID_CHARS = 128
_DIGITS = re.compile(r"[0-9]{1,19}")
#: Charges are accepted from 1900 up to (not including) 2200, UTC: exact as float64 microseconds.
EARLIEST, END = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc)
_EARLIEST_US, _END_US = utc_micros(EARLIEST), utc_micros(END)


def _json_number(value: Any) -> Any:
    """Refuse strings and booleans where a number is expected (pydantic would convert them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a JSON number, got {type(value).__name__}")
    return value


def _card_number(value: Any, info: ValidationInfo) -> Any:
    """A card number as a JSON integer or a string of digits (JavaScript clients lose integers above 2**53),
    replaced here, in memory, by its keyed token: the service looks cards up, answers and logs by token only."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be an integer or a string of 1 to 19 digits")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer or a string of digits, got {type(value).__name__}")
    if not 0 < value <= MAX_PAN:
        raise ValueError("must be a card number of 1 to 19 digits")
    context = info.context
    tokens = context.get("card_tokens") if isinstance(context, dict) else None
    return tokens.token(value) if isinstance(tokens, CardTokens) else tokenizer(create=False).token(value)


class CardTokens:
    """The tokenizer of $FRAUD_HOME, looked up once (on first use: a missing key is reported by the
    request that needs it) rather than per request; pass it as the validation context's "card_tokens"."""

    def __init__(self) -> None:
        self._tokenizer: Tokenizer | None = None

    def token(self, pan: int) -> int:
        """The card number's token."""
        if self._tokenizer is None:
            self._tokenizer = tokenizer(create=False)
        return self._tokenizer.token(pan)


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text (or, from Python, a datetime) is a datetime here: pydantic would read a
    number as a Unix time."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 string with a timezone, got {type(value).__name__}")
    if len(value) > 64:
        raise ValueError(f"must be an ISO 8601 string with a timezone, got {len(value)} characters")
    return value


def _bounded(value: dt.datetime) -> dt.datetime:
    """Charges from 1900 to 2199 (UTC); anything else is a data error, not a purchase."""
    if not _EARLIEST_US <= utc_micros(value) < _END_US:
        raise ValueError("must be from 1900-01-01 up to 2200-01-01 (UTC)")
    return value


Number = Annotated[float, BeforeValidator(_json_number)]
CardNumber = Annotated[int, BeforeValidator(_card_number)]
ChargeTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_bounded)]


class RequestRules(NamedTuple):
    """What the data contract in force says about requests: the categories allowed (None: any) and
    the transaction ids' type."""

    categories: frozenset[str] | None
    shown: str  # the categories as an error message lists them
    tid_type: Literal["int", "string"]


def request_rules(contract: DataContract | None = None) -> RequestRules:
    """The rules of `contract` (default: the one in force), resolved once for many requests."""
    contract = contract or active_contract()
    allowed = contract.categories
    if allowed == "open":
        return RequestRules(None, "", contract.tid_type)
    shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
    return RequestRules(frozenset(allowed), shown, contract.tid_type)


def _rules(info: ValidationInfo) -> RequestRules:
    context = info.context
    rules = context.get("rules") if isinstance(context, dict) else None
    return rules if isinstance(rules, RequestRules) else request_rules()


def _known_category(value: str, info: ValidationInfo) -> str:
    """A category the data contract in force allows (any, when its vocabulary is `open`: unseen ones
    are encoded as unknown by the model's transformations)."""
    rules = _rules(info)
    if rules.categories is not None and value not in rules.categories:
        raise ValueError(f"must be one of the data contract's categories ({rules.shown})")
    return value


def _transaction_id(value: Any, info: ValidationInfo) -> int | str:
    """A tid of the type the data contract declares: an integer in [0, 2**63 - 1], or a string of 1 to
    MAX_TID_CHARS characters kept exactly (never converted from one to the other)."""
    if _rules(info).tid_type == "string":
        if not isinstance(value, str):
            raise ValueError(f"must be a string: the data contract's tid_type is string, got {type(value).__name__}")
        if not 1 <= len(value) <= MAX_TID_CHARS:
            raise ValueError(f"must be a string of 1 to {MAX_TID_CHARS} characters, got {len(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer: the data contract's tid_type is int, got {type(value).__name__}")
    if not 0 <= value <= _INT64_MAX:
        raise ValueError("must be greater than or equal to 0 and less than 2**63")
    return value


Category = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_known_category)]
TransactionId = Annotated[int | str, PlainValidator(_transaction_id, json_schema_input_type=int | str)]

_EXAMPLE = {
    "cc_num": 4_444_037_300_542_691, "datetime": "2025-03-01T12:34:56.123456Z", "amount": 42.5,
    "category": "Grocery", "latitude": 48.8566, "longitude": 2.3522, "tid": 987_654_321,
}


class Transaction(BaseModel):
    """One card charge to score, as the raw `transactions` table describes it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    cc_num: CardNumber = Field(gt=0, le=_INT64_MAX, description="Card number: an integer or a string of up to 19 "
                               "digits; tokenized on arrival, so responses carry its token, never the number.")
    datetime: ChargeTime = Field(description="When the charge happened, ISO 8601 with a timezone, 1900 to 2199.")
    amount: Number = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False,
                           description="Charged amount, as the raw contract: 0 < amount <= 50,000.")
    category: Category = Field(description="Merchant category.")
    latitude: Number = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude, degrees.")
    longitude: Number = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude, degrees.")
    tid: TransactionId | None = Field(
        default=None,
        description="Your transaction id: an integer or a string, as the data contract's tid_type says. Scoring "
        "stores nothing; with a tid, a later charge of the same card in one /predict/batch counts this one, and a "
        "charge already in the card's state is not counted twice.",
    )


class Charge(Transaction):
    """A charge that happened, for the card's online state (POST /charges): `tid` is required."""

    tid: TransactionId = Field(description="The charge's transaction id (the data contract's tid_type), unique "
                               "per card.")


class TransactionBatch(BaseModel):
    """Several charges, scored in the order given (later ones of a card see its earlier ones with a tid)."""

    model_config = ConfigDict(extra="forbid")

    transactions: list[Transaction] = Field(min_length=1, description="The charges, at most the server's limit.")


class ChargeStored(BaseModel):
    """The write path's answer: the charge is now in its card's state."""

    status: Literal["stored"]
    cc_num: int
    tid: int | str


CardStatus = Literal["known", "new", "unknown", "out_of_order"]


class Reason(BaseModel):
    """One feature that pushed the score up: its contribution in log-odds (Saabas, as in batch scores)."""

    feature: str
    value: float | str | None = Field(description="The feature's value (a category by its name); null if missing.")
    contribution: float = Field(description="Contribution to the trees' margin (log-odds, before calibration).")


class Prediction(BaseModel):
    """The champion's verdict on one charge."""

    tid: int | str | None = Field(description="The request's tid, if given.")
    cc_num: int = Field(description="The card's token (the card number is never echoed).")
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
    features: dict[str, float | int | None] | None = Field(
        default=None, description="The model's input vector (after transformations), with include_features=true."
    )
    reasons: list[Reason] | None = Field(
        default=None, description="With include_reasons=true: the 3 features that pushed the score up most, "
        "largest first (the same as batch_scores' `reasons` column for the same charge)."
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
