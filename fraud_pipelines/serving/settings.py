"""The REST service's own settings, from environment variables (storage and MLflow locations
come from `StorageResource` / `MlflowResource`, the project's one place for those)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True, kw_only=True)
class ServingSettings:
    """Auth token, alias polling, batch limit and write-back."""

    token: str | None = None  # FRAUD_SERVING_TOKEN: when set, /predict* need "Authorization: Bearer <token>"
    poll_seconds: float = 10.0  # FRAUD_SERVING_POLL_SECONDS: how often the champion alias is checked
    max_batch: int = 1_000  # FRAUD_SERVING_MAX_BATCH: most transactions per /predict/batch
    write_back: bool = True  # FRAUD_SERVING_WRITE_BACK: remember scored charges (with a tid) as the card's latest

    def __post_init__(self) -> None:
        if self.poll_seconds <= 0:
            raise ValueError(f"FRAUD_SERVING_POLL_SECONDS must be > 0, got {self.poll_seconds}")
        if self.max_batch < 1:
            raise ValueError(f"FRAUD_SERVING_MAX_BATCH must be >= 1, got {self.max_batch}")

    @classmethod
    def from_env(cls) -> ServingSettings:
        """Settings from FRAUD_SERVING_* variables; a malformed value is an error naming the variable."""
        return cls(
            token=os.environ.get("FRAUD_SERVING_TOKEN") or None,
            poll_seconds=_number("FRAUD_SERVING_POLL_SECONDS", 10.0, float),
            max_batch=_number("FRAUD_SERVING_MAX_BATCH", 1_000, int),
            write_back=_flag("FRAUD_SERVING_WRITE_BACK", True),
        )


def _number(name: str, default: float, kind: type) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a {kind.__name__}, got {raw!r}") from None


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE | _FALSE:
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE
