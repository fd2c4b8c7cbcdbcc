"""A simulated year in production: a first champion from a short backfill, then one daily tick of the
schedule after another (`daily_job` through the schedule's path, histories refreshed every day),
with `maintenance_job` every night. Prints, per month, the daily run's time (wall and CPU), files per table (in the
current version and on disk), Delta log files, the time of training data for the last 90 days (median
of three reads) and of the as-of read that gives each card's last charge; then the issue's targets,
measured here, and each step's time early and late in the run (from the Dagster event log), most grown first.
Each day runs in a fresh process (as Dagster's run launcher starts each run), forked from a server that has
imported the libraries once: what one long process would accumulate over a year is not measured as history.

    .venv/bin/python bench/simulate_year.py                      # 365 days, 1,000 cards, 3,000 charges/day
    .venv/bin/python bench/simulate_year.py --days 60 --cards 300 --per-day 800

Everything is written under --home (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

QUIET = "WARNING"


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


#: Imported once by the fork server, so that each day's fresh process starts with them loaded and its
#: run time is the run's own work, as in a run worker that has loaded its code location.
PRELOAD = ["dagster", "deltalake", "duckdb", "pyarrow", "pandas", "sklearn", "xgboost", "mlflow",
           "great_expectations", "simulation", "fraud_pipelines.definitions"]


def environment(home: Path) -> None:
    """The variables every process of the simulation reads (set before the fork server starts)."""
    os.environ["FRAUD_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")


def setup(args: argparse.Namespace):
    """The definitions (the schedule's path with a small raw source), the instance and the storage."""
    import dagster as dg
    from simulation import definitions

    from fraud_pipelines.automation.policy import RetrainPolicy
    from fraud_pipelines.resources import RawSourceResource
    from fraud_pipelines.settings import ensure_dagster_home

    warnings.filterwarnings("ignore")
    ensure_dagster_home()
    source = RawSourceResource(n_cards=args.cards, transactions_per_day=args.per_day, fraud_rate=args.fraud_rate,
                               seed=42)
    policy = RetrainPolicy(training_window_days=args.history)
    defs = definitions(source, retrain_policy=policy)
    return defs, dg.DagsterInstance.get(), defs.resources["storage"], policy


def peak_rss_mb() -> float:
    """This process's peak resident memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bootstrap(args: argparse.Namespace) -> dict:
    """Backfill the first `history` days and train the first champion (one run, in its own process)."""
    from simulation import backfill

    from fraud_pipelines.settings import start_date

    defs, instance, _, policy = setup(args)
    first = start_date()
    last = first + timedelta(days=args.history - 1)
    began = time.perf_counter()
    result = backfill(defs, instance, "fraud_pipeline_job", first, last, policy.training_run_config(last),
                      log_level=QUIET)
    if not result.success:
        raise SystemExit(f"bootstrap run {result.run_id} failed")
    return {"first": first, "last": last, "seconds": time.perf_counter() - began,
            "champion": defs.resources["mlflow"].champion_version()}


def measure_reads(args: argparse.Namespace, storage, day: date) -> tuple[float, float, float]:
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


def table_figures(storage) -> dict[str, tuple[int, int, int]]:
    """Per table: files in the current version, data files on disk, Delta log files."""
    from deltalake import DeltaTable

    from fraud_pipelines.maintenance.delta_tables import delta_tables, stored_files

    out = {}
    location = storage.location.rstrip("/")
    for uri in delta_tables(location):
        current = len(DeltaTable(uri).file_uris())
        on_disk, _ = stored_files(uri)
        logs = len(list(Path(uri, "_delta_log").iterdir()))
        out[uri[len(location) + 1:]] = (current, on_disk, logs)
    return out


def one_day(args: argparse.Namespace, day: date, maintain: bool, measure: bool) -> dict:
    """In a fresh process, as Dagster's run launcher starts each run: the schedule's tick for `day`,
    the daily runs it asks for, the night's maintenance, and (on `measure` days) the reads and files."""
    from simulation import launch, tick

    defs, instance, storage, _ = setup(args)
    # A run worker loads its code location before the run starts (Dagster's run time starts after it).
    defs.get_repository_def()
    for name in ("daily_job", "maintenance_job"):
        defs.resolve_job_def(name)
    out: dict = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    requests = tick(defs, instance, day).run_requests
    ticked = time.perf_counter()
    runs = []
    for request in requests:
        result = launch(defs, instance, request, "daily_job", log_level=QUIET)
        if not result.success:
            raise SystemExit(f"the daily run of {day} failed")
        runs.append(result.run_id)
    out["seconds"] = time.perf_counter() - started
    out["cpu"] = time.process_time() - cpu_started
    steps = {"(schedule tick)": ticked - started}
    for run_id in runs:
        for key, seconds in step_seconds(instance, run_id).items():
            steps[key] = steps.get(key, 0.0) + seconds
    steps["(in-process launch other)"] = out["seconds"] - sum(steps.values())
    out["steps"] = steps
    if maintain:
        job = defs.resolve_job_def("maintenance_job")
        config = {"ops": {"delta_maintenance": {"config": {"retention_hours": args.retention_hours}}},
                  "loggers": {"console": {"config": {"log_level": QUIET}}}}
        started = time.perf_counter()
        if not job.execute_in_process(instance=instance, run_config=config, raise_on_error=False).success:
            raise SystemExit(f"maintenance after {day} failed")
        out["maintenance"] = time.perf_counter() - started
    if measure:
        out["reads"] = measure_reads(args, storage, day)
        out["figures"] = table_figures(storage)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def in_fresh_process(pool_context, function, *arguments):
    """`function(*arguments)` in a new process forked from the preloaded server, which exits after it."""
    with ProcessPoolExecutor(max_workers=1, mp_context=pool_context, max_tasks_per_child=1) as pool:
        return pool.submit(function, *arguments).result()


def main() -> int:
    args = parse()
    home = Path(args.home or tempfile.mkdtemp(prefix="fraud_year_")).resolve()
    environment(home)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # `simulation`, for the fork server's preload
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)

    print(f"FRAUD_HOME={home}")
    print(f"{args.cards} cards, ~{args.per_day} charges/day; maintenance every {args.maintenance_every} day(s); "
          "each day in a fresh process")
    began = time.perf_counter()
    boot = in_fresh_process(context, bootstrap, args)
    print(f"bootstrap {boot['first']}..{boot['last']}: {boot['seconds']:.0f}s, champion v{boot['champion']}\n")

    header = (f"{'day':>4} {'date':>10} {'daily s (mean)':>14} {'7-day median':>12} {'CPU s':>6} {'training s':>10} "
              f"{'as-of s':>8} {'state s':>8} load {'peak MB':>7}  files current/on disk/log files per table")
    print(header)
    times: dict[int, float] = {}
    cpu: dict[int, float] = {}  # the day's process's CPU seconds (all its threads): less sensitive to other load
    steps: dict[int, dict[str, float]] = {}
    maintenance: dict[int, float] = {}
    peaks: dict[int, float] = {}
    loads: list[float] = []
    month: list[float] = []
    reads: dict[int, tuple[float, float, float]] = {}
    figures: dict[str, tuple[int, int, int]] = {}
    for n in range(1, args.days + 1):
        day = boot["last"] + timedelta(days=n)
        maintain = bool(args.maintenance_every) and n % args.maintenance_every == 0
        measure = n in (30, args.training_days) or n % 30 == 0 or n == args.days
        record = in_fresh_process(context, one_day, args, day, maintain, measure)
        times[n], cpu[n], steps[n], peaks[n] = record["seconds"], record["cpu"], record["steps"], record["peak_rss_mb"]
        if "maintenance" in record:
            maintenance[n] = record["maintenance"]
        month.append(times[n])
        if sys.stderr.isatty():  # progress between the printed days, overwritten in place
            print(f"\rday {n}/{args.days} {day}: daily run {times[n]:.2f}s", end="", file=sys.stderr, flush=True)
        if measure:
            if sys.stderr.isatty():
                print("\r\033[K", end="", file=sys.stderr, flush=True)
            loads.append(os.getloadavg()[0])
            reads[n], figures = record["reads"], record["figures"]
            shown = "; ".join(f"{name} {c}/{d}/{log}" for name, (c, d, log) in sorted(figures.items())
                              if name.startswith(("raw/transactions", "feature_store/offline", "scores")))
            median = statistics.median(times[d] for d in range(max(1, n - 6), n + 1))
            cpu_median = statistics.median(cpu[d] for d in range(max(1, n - 6), n + 1))
            print(f"{n:>4} {day} {statistics.mean(month):>14.2f} {median:>12.2f} {cpu_median:>6.2f} "
                  f"{reads[n][0]:>10.2f} {reads[n][1]:>8.3f} {reads[n][2]:>8.3f} {os.getloadavg()[0]:>4.1f} "
                  f"{max(peaks[d] for d in range(max(1, n - 29), n + 1)):>7.0f}  {shown}", flush=True)
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
    print(f"peak memory of a day's process: {max(peaks[d] for d in peaks if d <= 30):.0f} MB (days <= 30), "
          f"{max(peaks[d] for d in peaks if d > last - 30):.0f} MB (the last 30 days)")
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
    partitions = args.history + last
    worst = max(figures.items(), key=lambda item: item[1][1])
    print(f"most data files on disk: {worst[0]} {worst[1][1]} for {partitions} daily partitions "
          f"({worst[1][1] / partitions:.2f} per partition)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
