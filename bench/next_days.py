"""Run the next daily ticks of an existing simulated home (made by `simulate_year.py --home ...`) and print
each day's wall and CPU seconds: the same days' cost on a young and an old home, run alternately in
the same minutes, compares history lengths under the same load.

    .venv/bin/python bench/next_days.py --home /tmp/young --days 3
    .venv/bin/python bench/next_days.py --home /tmp/old --days 3

Sizes must be those the home was made with (defaults: simulate_year's). The first day of a process
also pays cold imports; compare the later ones.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from datetime import date, timedelta
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--per-day", type=int, default=3_000)
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--history", type=int, default=14, help="the home's bootstrap days (its retrain policy)")
    args = parser.parse_args()
    os.environ["FRAUD_HOME"] = str(Path(args.home).resolve())
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    warnings.filterwarnings("ignore")
    import dagster as dg
    from simulation import definitions, launch, tick

    from fraud_pipelines.automation.policy import RetrainPolicy
    from fraud_pipelines.automation.schedules import INGESTED_ASSET
    from fraud_pipelines.resources import RawSourceResource
    from fraud_pipelines.settings import ensure_dagster_home, start_date

    ensure_dagster_home()
    source = RawSourceResource(n_cards=args.cards, transactions_per_day=args.per_day, fraud_rate=args.fraud_rate,
                               seed=42)
    defs = definitions(source, retrain_policy=RetrainPolicy(training_window_days=args.history))
    instance = dg.DagsterInstance.get()
    last = max(date.fromisoformat(k) for k in instance.get_materialized_partitions(INGESTED_ASSET))
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    for n in range(1, args.days + 1):
        day = last + timedelta(days=n)
        started, cpu_started = time.perf_counter(), time.process_time()
        for request in tick(defs, instance, day).run_requests:
            if not launch(defs, instance, request, "daily_job", log_level="WARNING").success:
                raise SystemExit(f"the daily run of {day} failed")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"history {(day - start_date()).days:>4} days  {day}  daily run {wall:.2f}s wall {cpu:.2f}s CPU  "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        job = defs.resolve_job_def("maintenance_job")
        config = {"ops": {"delta_maintenance": {"config": {"retention_hours": 0}}}, **quiet}
        if not job.execute_in_process(instance=instance, run_config=config, raise_on_error=False).success:
            raise SystemExit(f"maintenance after {day} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
