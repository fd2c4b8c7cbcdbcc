"""Run the next daily ticks of an existing simulated home (made by `simulate_year.py --home ...`) and print
each day's wall and CPU seconds: the same days' cost on a young and an old home, run alternately in
the same minutes, compares history lengths under the same load.

    .venv/bin/python bench/next_days.py --home /tmp/young --days 3
    .venv/bin/python bench/next_days.py --home /tmp/old --days 3

Each day runs as in `simulate_year.py`: in a fresh process forked from a server that has imported the
libraries, with the night's maintenance after it. Sizes must be those the home was made with
(defaults: simulate_year's).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_year import PRELOAD, environment, in_fresh_process, one_day  # noqa: E402


def last_ingested_day(args: argparse.Namespace) -> date:
    """The last day the home's daily runs ingested (from the Dagster instance)."""
    import dagster as dg

    from fraud_pipelines.automation.schedules import INGESTED_ASSET
    from fraud_pipelines.settings import ensure_dagster_home

    ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    return max(date.fromisoformat(k) for k in instance.get_materialized_partitions(INGESTED_ASSET))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--per-day", type=int, default=3_000)
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--history", type=int, default=14, help="the home's bootstrap days (its retrain policy)")
    parser.add_argument("--retention-hours", type=int, default=0)
    parser.add_argument("--training-days", type=int, default=90)
    args = parser.parse_args()
    environment(Path(args.home).resolve())
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    last = in_fresh_process(context, last_ingested_day, args)
    from fraud_pipelines.settings import start_date

    for n in range(1, args.days + 1):
        day = last + timedelta(days=n)
        record = in_fresh_process(context, one_day, args, day, True, False)
        print(f"history {(day - start_date()).days:>4} days  {day}  daily run {record['seconds']:.2f}s wall "
              f"{record['cpu']:.2f}s CPU  maintenance {record['maintenance']:.2f}s  load {os.getloadavg()[0]:.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
