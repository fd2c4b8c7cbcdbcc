"""When to retrain: the thresholds the retraining sensors apply, as one Dagster resource (shown
and configurable in the UI), and the small cursor each sensor keeps between evaluations."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field


class RetrainPolicy(dg.ConfigurableResource):
    """Thresholds of the retraining sensors (new labels, drift, decay)."""

    new_label_days: int = Field(
        default=7, ge=1, description="Retrain once this many days are labelled after the champion's training cutoff.")
    psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description="Retrain when any feature's PSI against the champion's training data passes this.",
    )
    drift_cooldown_days: int = Field(
        default=7,
        ge=1,
        description="After a drift request, days of new measurements before asking again for the same champion.",
    )
    pr_auc_drop: float = Field(
        default=0.1,
        gt=0,
        description="Retrain when the champion's PR-AUC on newly labelled days is this far below its test PR-AUC.",
    )
    decay_window_days: int = Field(
        default=7, ge=1, description="Decay is judged on at most the latest N newly labelled days.")
    min_positives: int = Field(
        default=20, ge=1, description="Frauds needed among newly labelled charges before decay is judged.")
    training_window_days: int = Field(
        default=0, ge=0, description="Train each retraining on the last N labelled days (a rolling window that "
                                     "follows drift); 0 trains on every labelled day.")

    def training_run_config(self, last_labelled: date) -> dict[str, Any]:
        """Run config of `retrain_job` for data up to `last_labelled`: the rolling window's temporal
        splits, or nothing (the training asset then derives them from every labelled day)."""
        if self.training_window_days == 0:
            return {}
        from fraud_pipelines.training.splits import default_ranges

        first = last_labelled - timedelta(days=self.training_window_days - 1)
        ranges = default_ranges(pd.Timestamp(first, tz="UTC"), pd.Timestamp(last_labelled, tz="UTC"))
        bounds = {"train_start": ranges.train_start, "train_end": ranges.train_end,
                  "validation_end": ranges.validation_end, "test_end": ranges.test_end}
        return {"ops": {"training_dataset": {"config": {k: v.date().isoformat() for k, v in bounds.items()}}}}


@dataclass(frozen=True)
class SensorCursor:
    """What a retraining sensor remembers: the champion it watched, the last measurement it read
    (`seen`: a day or an event storage id) and the day through which it already asked to retrain."""

    champion: str | None = None
    seen: str | None = None
    requested_through: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor:
        """The cursor stored by `dump` (empty or unreadable text gives a fresh cursor)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        return cls(**{k: data.get(k) for k in ("champion", "seen", "requested_through")})

    def dump(self) -> str:
        """JSON text for `context.update_cursor`."""
        return json.dumps(asdict(self), sort_keys=True)

    def for_champion(self, champion: str) -> SensorCursor:
        """This cursor, or a fresh one if it was about another champion."""
        return self if self.champion == champion else SensorCursor(champion=champion)
