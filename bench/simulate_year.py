"""A simulated year in production: a first champion from a short backfill, then one daily tick of the
schedule after another (`daily_job` through the schedule's path, histories refreshed every day),
with `maintenance_job` every night. Prints, per month, the daily run's time (wall and CPU), files per table (in the
current version and on disk), Delta log files, the time of training data for the last 90 days (median
of three reads) and of the as-of read that gives each card's last charge; then the issue's targets,
measured here, and each step's time early and late in the run (from the Dagster event log), most grown first.

    .venv/bin/python bench/simulate_year.py                      # 365 days, 1,000 cards, 3,000 charges/day
    .venv/bin/python bench/simulate_year.py --days 60 --cards 300 --per-day 800

Everything is written under --home (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="simulated days after the bootstrap")
    parser.add_argument("--history", type=int, default=14, help="days backfilled before the first champion")
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--per-day", type=int, default=3_000, help="transactions per day")
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--maintenance-every", type=int, default=1, help="days between maintenance runs (0: never)")
    parser.add_argument("--retention-hours", type=int, default=0,
                        help="the vacuum's retention; simulated days pass in seconds, so the default 0 keeps only "
                             "pinned versions (a real deployment keeps its week)")
    parser.add_argument("--training-days", type=int, default=90, help="span of the measured training data")
    parser.add_argument("--home", default="", help="FRAUD_HOME for the run (default: a new temporary folder)")
    return parser.parse_args()


def rss_mb() -> float:
    """This process's resident memory: the simulation runs every day in one process, so what it keeps
    from day to day shows here (and in the CPU time of a garbage collection)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds of each step of a run from its event log (step start to success or failure), plus
    `(run other)`: the run's wall time outside its steps (planning, run storage, resources)."""
    import dagster as dg

    started: dict[str, float] = {}
    out: dict[str, float] = {}
    run_start = run_end = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            out[entry.step_key] = out.get(entry.step_key, 0.0) + entry.timestamp - started.pop(entry.step_key)
    if run_start is not None and run_end is not None:
        out["(run other)"] = run_end - run_start - sum(out.values())
    return out


def print_steps(steps: dict[int, dict[str, float]], early: int, late: int) -> None:
    """Per step: the median seconds of the 7 days up to `early` and up to `late`, most grown first."""
    def median(n: int, key: str) -> float:
        return statistics.median(steps[d].get(key, 0.0) for d in range(max(1, n - 6), n + 1) if d in steps)

    keys = sorted({k for d in steps.values() for k in d})
    rows = sorted(((median(late, k) - median(early, k), k) for k in keys), reverse=True)
    print(f"\nper step of the daily run, 7-day medians (s): day {early} -> day {late}")
    for grown, key in rows:
        print(f"  {key:<40} {median(early, key):>7.3f} -> {median(late, key):>7.3f}  ({grown:+.3f})")


def main() -> int:
    args = parse()
    home = Path(args.home or tempfile.mkdtemp(prefix="fraud_year_")).resolve()
    os.environ["FRAUD_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    import dagster as dg
    from simulation import backfill, definitions, launch, tick

    from fraud_pipelines.automation.policy import RetrainPolicy
    from fraud_pipelines.maintenance.delta_tables import delta_tables, stored_files
    from fraud_pipelines.resources import RawSourceResource
    from fraud_pipelines.settings import ensure_dagster_home, start_date

    ensure_dagster_home()
    first = start_date()
    bootstrap_last = first + timedelta(days=args.history - 1)
    source = RawSourceResource(n_cards=args.cards, transactions_per_day=args.per_day, fraud_rate=args.fraud_rate,
                               seed=42)
    policy = RetrainPolicy(training_window_days=args.history)
    defs = definitions(source, retrain_policy=policy)
    instance = dg.DagsterInstance.get()
    storage = defs.resources["storage"]
    quiet = "WARNING"

    print(f"FRAUD_HOME={home}")
    print(f"{args.cards} cards, ~{args.per_day} charges/day; maintenance every {args.maintenance_every} day(s)")
    began = time.perf_counter()
    result = backfill(defs, instance, "fraud_pipeline_job", first, bootstrap_last,
                      policy.training_run_config(bootstrap_last), log_level=quiet)
    if not result.success:
        raise SystemExit(f"bootstrap run {result.run_id} failed")
    print(f"bootstrap {first}..{bootstrap_last}: {time.perf_counter() - began:.0f}s, champion "
          f"v{defs.resources['mlflow'].champion_version()}\n")

    def measure_reads(day) -> tuple[float, float, float]:
        """Seconds of training data over the last `training_days` days (median of three reads), of each
        card's last charge read as-of over all history, and of the same read from the state the daily run
        carries."""
        from fraud_pipelines.features import day_lineage, groups, last_charges
        from fraud_pipelines.training import fraud_view

        fs = storage.feature_store()
        end = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
        view = fraud_view.get_or_create(fs)
        spans = []
        for _ in range(3):  # one read is noisy on a shared machine: the median of three
            started = time.perf_counter()
            view.training_data(end - timedelta(days=args.training_days), end, description="simulate_year measurement")
            spans.append(time.perf_counter() - started)
        training = statistics.median(spans)
        started = time.perf_counter()
        groups.TRANSACTIONS.get_or_create(fs).as_of(end - timedelta(microseconds=1), by=["cc_num"],
                                                    columns=["cc_num", "datetime", "latitude", "longitude"])
        as_of = time.perf_counter() - started
        started = time.perf_counter()
        stamp = day_lineage.lineage_of(storage).builds(day_lineage.TRANSACTIONS)[day].stamp
        if last_charges.last_charges_of(storage).read(day, str(stamp)) is None:
            raise SystemExit(f"no carried state stored for {day}")
        return training, as_of, time.perf_counter() - started

    def table_figures() -> dict[str, tuple[int, int, int]]:
        """Per table: files in the current version, data files on disk, Delta log files."""
        from deltalake import DeltaTable

        out = {}
        location = storage.location.rstrip("/")
        for uri in delta_tables(location):
            current = len(DeltaTable(uri).file_uris())
            on_disk, _ = stored_files(uri)
            logs = len(list(Path(uri, "_delta_log").iterdir()))
            out[uri[len(location) + 1:]] = (current, on_disk, logs)
        return out

    header = (f"{'day':>4} {'date':>10} {'daily s (mean)':>14} {'7-day median':>12} {'CPU s':>6} {'training s':>10} "
              f"{'as-of s':>8} {'state s':>8} load {'RSS MB':>6}  files current/on disk/log files per table")
    print(header)
    times: dict[int, float] = {}
    cpu: dict[int, float] = {}  # the process's CPU seconds (all its threads): less sensitive to other load
    steps: dict[int, dict[str, float]] = {}
    maintenance: dict[int, float] = {}
    loads: list[float] = []
    month: list[float] = []
    reads: dict[int, tuple[float, float]] = {}
    day = bootstrap_last
    for n in range(1, args.days + 1):
        day = bootstrap_last + timedelta(days=n)
        started, cpu_started = time.perf_counter(), time.process_time()
        requests = tick(defs, instance, day).run_requests
        ticked = time.perf_counter()
        runs = []
        for request in requests:
            result = launch(defs, instance, request, "daily_job", log_level=quiet)
            if not result.success:
                raise SystemExit(f"the daily run of {day} failed")
            runs.append(result.run_id)
        times[n] = time.perf_counter() - started
        cpu[n] = time.process_time() - cpu_started
        steps[n] = {"(schedule tick)": ticked - started}
        for run_id in runs:
            for key, seconds in step_seconds(instance, run_id).items():
                steps[n][key] = steps[n].get(key, 0.0) + seconds
        steps[n]["(in-process launch other)"] = times[n] - sum(steps[n].values())
        month.append(times[n])
        if args.maintenance_every and n % args.maintenance_every == 0:
            job = defs.resolve_job_def("maintenance_job")
            config = {"ops": {"delta_maintenance": {"config": {"retention_hours": args.retention_hours}}},
                      "loggers": {"console": {"config": {"log_level": quiet}}}}
            started = time.perf_counter()
            if not job.execute_in_process(instance=instance, run_config=config, raise_on_error=False).success:
                raise SystemExit(f"maintenance after {day} failed")
            maintenance[n] = time.perf_counter() - started
        if n in (30, args.training_days) or n % 30 == 0 or n == args.days:
            loads.append(os.getloadavg()[0])
            reads[n] = measure_reads(day)
            figures = table_figures()
            shown = "; ".join(f"{name} {c}/{d}/{log}" for name, (c, d, log) in sorted(figures.items())
                              if name.startswith(("raw/transactions", "feature_store/offline", "scores")))
            median = statistics.median(times[d] for d in range(max(1, n - 6), n + 1))
            cpu_median = statistics.median(cpu[d] for d in range(max(1, n - 6), n + 1))
            print(f"{n:>4} {day} {statistics.mean(month):>14.2f} {median:>12.2f} {cpu_median:>6.2f} "
                  f"{reads[n][0]:>10.2f} {reads[n][1]:>8.3f} {reads[n][2]:>8.3f} {os.getloadavg()[0]:>4.1f} "
                  f"{rss_mb():>6.0f}  {shown}",
                  flush=True)
            month = []

    def around(n: int) -> float:
        """The median daily-run time of the 7 days up to day n (one run is noisy on a shared machine)."""
        return statistics.median(times[d] for d in range(max(1, n - 6), n + 1))

    last = args.days
    print(f"\ntotal {time.perf_counter() - began:.0f}s; load average now {os.getloadavg()}; 1-minute load at the "
          f"printed days: min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f}")
    print_steps(steps, min(30, max(1, last // 6)), last)
    if maintenance:
        print(f"maintenance_job: {statistics.median(maintenance[d] for d in maintenance if d <= 30):.2f}s "
              f"(median of days <= 30), {statistics.median(maintenance[d] for d in maintenance if d > last - 7):.2f}s "
              f"(median of the last 7)")
    if last >= 30:
        ratio = around(last) / around(30)
        print(f"daily run, day {last} / day 30 (7-day medians): {around(last):.2f}s / {around(30):.2f}s = "
              f"{ratio:.2f} (target <= 1.2)")
        cpu_around = {n: statistics.median(cpu[d] for d in range(max(1, n - 6), n + 1)) for n in (30, last)}
        print(f"its CPU time, day {last} / day 30 (7-day medians): {cpu_around[last]:.2f}s / {cpu_around[30]:.2f}s = "
              f"{cpu_around[last] / cpu_around[30]:.2f}")
    if last > args.training_days and args.training_days in reads:
        ratio = reads[last][0] / reads[args.training_days][0]
        print(f"training data for {args.training_days} days, day {last} / day {args.training_days}: "
              f"{reads[last][0]:.2f}s / {reads[args.training_days][0]:.2f}s = {ratio:.2f} (target <= 1.2)")
    figures = table_figures()
    partitions = args.history + last
    worst = max(figures.items(), key=lambda item: item[1][1])
    print(f"most data files on disk: {worst[0]} {worst[1][1]} for {partitions} daily partitions "
          f"({worst[1][1] / partitions:.2f} per partition)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
