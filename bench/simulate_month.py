"""A simulated month of automation: 30 daily ticks of the schedule, a distribution shift injected
mid-month, and the retraining sensors evaluated after each day. Prints when retraining triggered
and why, and whether the champion changed.

    .venv/bin/python bench/simulate_month.py                  # 30 days, shift from day 15
    .venv/bin/python bench/simulate_month.py --days 10 --shift-day 5 --cards 500 --per-day 1500

Everything is written under --home (default: a new temporary folder); open it in the UI with
`FRAUD_HOME=<home> make ui` to see the runs, their reasons, the sensors' ticks and the PSI table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days after the history")
    parser.add_argument("--history", type=int, default=17, help="days backfilled before the first champion")
    parser.add_argument("--window", type=int, default=14,
                        help="RetrainPolicy.training_window_days: each model trains on the last N labelled days "
                             "(the first days of history only warm the per-card features up)")
    parser.add_argument("--shift-day", type=int, default=15, help="simulated day (1-based) the shift starts")
    parser.add_argument("--factor", type=float, default=3.0, help="amounts are multiplied by this from the shift")
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--per-day", type=int, default=3_000, help="transactions per day")
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--new-label-days", type=int, default=14, help="RetrainPolicy.new_label_days")
    parser.add_argument("--verbose", action="store_true", help="also print why each sensor did not fire")
    parser.add_argument("--home", default="", help="FRAUD_HOME for the run (default: a new temporary folder)")
    return parser.parse_args()


def main() -> int:
    args = parse()
    home = Path(args.home or tempfile.mkdtemp(prefix="fraud_month_")).resolve()
    os.environ["FRAUD_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    import dagster as dg
    from simulation import MonthSimulation, ShiftedRawSource, definitions, format_day

    from fraud_pipelines.automation.policy import RetrainPolicy
    from fraud_pipelines.settings import ensure_dagster_home, start_date

    ensure_dagster_home()
    first = start_date()
    bootstrap_last = first + timedelta(days=args.history - 1)
    days = [bootstrap_last + timedelta(days=i) for i in range(1, args.days + 1)]
    shift_from = days[args.shift_day - 1]
    source = ShiftedRawSource(n_cards=args.cards, transactions_per_day=args.per_day, fraud_rate=args.fraud_rate,
                              horizon_days=args.history + args.days + 1, seed=42,
                              shift_from=shift_from.isoformat(), amount_factor=args.factor)
    policy = RetrainPolicy(new_label_days=args.new_label_days, training_window_days=args.window)
    defs = definitions(source, retrain_policy=policy)
    instance = dg.DagsterInstance.get()
    simulation = MonthSimulation(defs, instance, shift_from=shift_from)

    print(f"FRAUD_HOME={home}")
    print(f"{args.cards} cards, ~{args.per_day} charges/day, fraud rate {args.fraud_rate}; amounts x{args.factor} "
          f"from {shift_from}")
    print(f"retraining: {args.new_label_days} new labelled days, PSI > {policy.psi_threshold}, PR-AUC drop > "
          f"{policy.pr_auc_drop}; each model trains on the last {args.window} labelled days")
    began = time.perf_counter()
    simulation.bootstrap(first, bootstrap_last, policy.training_run_config(bootstrap_last))
    print(f"bootstrap {first}..{bootstrap_last}: one run, champion v{simulation.champion()} "
          f"({time.perf_counter() - began:.0f}s)\n")
    records, day_seconds = [], []
    for day in days:
        started = time.perf_counter()
        record = simulation.run_day(day)
        day_seconds.append(time.perf_counter() - started)
        records.append(record)
        format_day(record)
        if args.verbose:
            for name, why in record.skips.items():
                print(f"    {name} skipped: {why}")

    triggers = [(r.day, t) for r in records for t in r.triggers]
    changes = [r for r in records if r.champion_after != r.champion_before]
    print(f"\n{len(days)} days in {sum(day_seconds):.0f}s (median {sorted(day_seconds)[len(day_seconds) // 2]:.1f}s "
          f"a day, retraining included); {len(triggers)} retraining run(s):")
    for day, t in triggers:
        print(f"  {day} {t.sensor:<18} -> {'v' + t.registered if t.registered else 'failed'} "
              f"{'promoted' if t.promoted else 'kept champion'}")
    print(f"champion changed {len(changes)} time(s): "
          + (", ".join(f"v{r.champion_before}->v{r.champion_after} on {r.day}" for r in changes) or "never"))
    failed = [r.day for r in records if not r.succeeded]
    if failed:
        print(f"daily runs that failed: {failed}", file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
