"""Shared pieces of the automation tests: the small data set, the champion's dates, and a World
(definitions + instance) whose days run through the daily schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from bench.simulation import evaluate, launch, tick

SMALL = dict(n_cards=400, transactions_per_day=1_200, horizon_days=20, seed=5, fraud_rate=0.02)
HISTORY = (date(2025, 1, 1), date(2025, 1, 12))
#: The champion trains on days 4..12 (days 1..3 only warm the per-card features up): train 4..9,
#: validation 10, test 11..12; its training cutoff is 2025-01-13.
WINDOW_DAYS = 9
CUTOFF = date(2025, 1, 13)


@dataclass
class World:
    """A copy of the champion's world with its own instance: days run through the schedule."""

    defs: dg.Definitions
    instance: dg.DagsterInstance

    def day(self, day: date, run_config: dict[str, Any] | None = None) -> dg.ExecuteInProcessResult:
        """The schedule's tick after `day`, and the daily run it asks for."""
        [request] = tick(self.defs, self.instance, day).run_requests
        assert request.partition_key == day.isoformat()
        result = launch(self.defs, self.instance, request, "daily_job", run_config, log_level="WARNING")
        assert result.success
        return result

    def evaluate(self, sensor: str, cursor: str | None) -> Any:
        return evaluate(self.defs, self.instance, sensor, cursor)

    def launch(self, request: dg.RunRequest, job_name: str) -> dg.ExecuteInProcessResult:
        return launch(self.defs, self.instance, request, job_name, log_level="WARNING")
