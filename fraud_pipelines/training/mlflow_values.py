"""Params and metrics logged to an MLflow run in one `log_batch` call: the registry and the
training group's side runs (selection, tuning trials) log the same way."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def log_values(
    client: Any, run_id: str, *, params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None, model_id: str | None = None,
) -> None:
    """Log `params` (as text) and `metrics` (as floats, step 0) to `run_id` in one request."""
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0, model_id=model_id) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
    )
