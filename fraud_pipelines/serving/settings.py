"""The REST service's own settings, from environment variables (storage and MLflow locations
come from `Storage` / `ModelRegistry`, the plain objects behind the Dagster resources)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ServingSettings:
    """Auth tokens, alias polling and the limits on what a request may carry."""

    token: str | None = None  # FRAUD_SERVING_TOKEN: when set, /predict* need "Authorization: Bearer <token>"
    write_token: str | None = None  # FRAUD_SERVING_WRITE_TOKEN: POST /charges needs it; unset, writes are refused
    poll_seconds: float = 10.0  # FRAUD_SERVING_POLL_SECONDS: how often the champion alias is checked
    max_batch: int = 1_000  # FRAUD_SERVING_MAX_BATCH: most transactions per /predict/batch
    max_body_bytes: int = 1_000_000  # FRAUD_SERVING_MAX_BODY_BYTES: larger request bodies get a 413
    # FRAUD_SERVING_MAX_SKEW_SECONDS: how far past the server's clock a written charge may be; at most an
    # hour, well inside the 4-hour window, so an accepted charge can never push real ones out of it
    max_skew_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.poll_seconds <= 0:
            raise ValueError(f"FRAUD_SERVING_POLL_SECONDS must be > 0, got {self.poll_seconds}")
        if self.max_batch < 1:
            raise ValueError(f"FRAUD_SERVING_MAX_BATCH must be >= 1, got {self.max_batch}")
        if self.max_body_bytes < 1_024:
            raise ValueError(f"FRAUD_SERVING_MAX_BODY_BYTES must be >= 1024, got {self.max_body_bytes}")
        if not 0 <= self.max_skew_seconds <= 3_600:
            raise ValueError(f"FRAUD_SERVING_MAX_SKEW_SECONDS must be in [0, 3600], got {self.max_skew_seconds}")
        if self.write_token is not None and self.write_token == self.token:
            raise ValueError("FRAUD_SERVING_WRITE_TOKEN must differ from FRAUD_SERVING_TOKEN: "
                             "whoever may score must not thereby be able to write")

    @classmethod
    def from_env(cls) -> ServingSettings:
        """Settings from FRAUD_SERVING_* variables; a malformed value is an error naming the variable."""
        return cls(
            token=os.environ.get("FRAUD_SERVING_TOKEN") or None,
            write_token=os.environ.get("FRAUD_SERVING_WRITE_TOKEN") or None,
            poll_seconds=_number("FRAUD_SERVING_POLL_SECONDS", 10.0, float),
            max_batch=_number("FRAUD_SERVING_MAX_BATCH", 1_000, int),
            max_body_bytes=_number("FRAUD_SERVING_MAX_BODY_BYTES", 1_000_000, int),
            max_skew_seconds=_number("FRAUD_SERVING_MAX_SKEW_SECONDS", 300.0, float),
        )


_WORDS = {int: "a whole number", float: "a number"}


def _number(name: str, default: float, kind: type) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {_WORDS.get(kind, kind.__name__)}, got {raw!r}") from None
