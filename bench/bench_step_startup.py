"""What a Dagster step pays before it starts, and what a small daily run of the data steps costs.

Two cases, each run in a fresh process:
- "import": `import fraud_pipelines.definitions` (what every step process and the run's own process
  load first): the import's seconds inside the process, and the whole process's wall and CPU seconds;
  the heavy libraries it left in `sys.modules` are listed.
- "daily run": one day of the data steps of `daily_job` (raw tables, histories, feature groups and their
  checks; not scores and drift, which need a trained model) run with Dagster's multiprocess executor,
  every step in its own process, as a launched run executes. A small synthetic home (the contract's
  5,000 cards, ~10,000 charges a day) is prepared once per checkout (its first day); the run then
  rewrites its second day, which replaces that partition each time. Wall seconds of the run, and CPU
  seconds (user + system) of the run's process and every step process under it.

Rounds are interleaved (every case once per round, the order rotating), figures are medians over the
rounds, and the load average is printed before and after. With `--before SRC` (an earlier checkout,
e.g. `git archive 71f5b6e | tar -x -C SRC`) the same cases also run on that code, side by side: this
script is copied into SRC/bench and runs there with SRC first on `PYTHONPATH`, so the step processes
import SRC's code too.

Usage: python bench/bench_step_startup.py [--rounds 3] [--only import,run] [--before SRC] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))

HEAVY = ("sklearn", "scipy", "xgboost", "mlflow", "optuna", "great_expectations", "matplotlib")
#: The data steps of `daily_job` (its raw, history and feature selections); their checks come with them.
DATA_ASSETS = ["raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards", "card_versions_fg",
               "transactions_fg", "transactions_4h_aggs", "fraud_labels_fg", "card_recent_charges_fg"]
FIRST_DAY, RUN_DAY = "2025-01-01", "2025-01-02"


def load() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- children -------------------------------------------------------------------------------------

def child_import() -> dict:
    began = time.perf_counter()
    import fraud_pipelines.definitions  # noqa: F401

    return {"import_seconds": time.perf_counter() - began, "heavy": [h for h in HEAVY if h in sys.modules]}


def child_run(day: str) -> dict:
    """One run of the data steps for `day` with the multiprocess executor, on the instance of $DAGSTER_HOME."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = ReconstructableRepository.for_module("fraud_pipelines.definitions", "defs", str(CHECKOUT)
                                               ).get_reconstructable_job("daily_job")
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(job, instance, tags={"dagster/partition": day},
                                asset_selection=[dg.AssetKey(a) for a in DATA_ASSETS])
        steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
        if not result.success:
            failed = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            raise SystemExit(f"the run for {day} failed: {failed[:3]}")
    return {"steps": len(steps)}


# --- driver ---------------------------------------------------------------------------------------

def script_in(source: Path | None) -> Path:
    """This script inside `source` (copied there), or this checkout's own."""
    if source is None:
        return Path(__file__)
    target = source / "bench" / Path(__file__).name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(__file__, target)
    return target


def environment(source: Path | None, home: Path | None) -> dict[str, str]:
    checkout = source or CHECKOUT
    env = {**os.environ, "PYTHONPATH": str(checkout), "DAGSTER_DISABLE_TELEMETRY": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "TQDM_DISABLE": "1", "FRAUD_START_DATE": FIRST_DAY,
           "FRAUD_TOKEN_KEY": os.environ.get("FRAUD_TOKEN_KEY", "5e" * 32)}
    if home is not None:
        env |= {"FRAUD_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    return env


def spawn(source: Path | None, home: Path | None, *args: str) -> dict:
    """Run a child of this script: its result, wall seconds, and the CPU seconds (user + system) of it and
    of every process it waited for (the run's step processes), from this process's children's usage."""
    checkout = source or CHECKOUT
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    out = subprocess.run([sys.executable, str(script_in(source)), "--child", *args], cwd=checkout,
                         env=environment(source, home), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {args} on {checkout} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    cpu = (now.ru_utime - usage.ru_utime) + (now.ru_stime - usage.ru_stime)
    return {**json.loads(lines[-1].removeprefix("RESULT ")), "wall": wall, "cpu": cpu}


def prepare(source: Path | None, root: Path, name: str) -> Path:
    """A home of this checkout with its first day written (the run day's 4-hour lookback and histories)."""
    home = root / name
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    spawn(source, home, "run", FIRST_DAY)
    return home


def interleaved(cases: list[str], rounds: int, run) -> dict[str, list[dict]]:
    """`run(case)` for every case, `rounds` times, the case order rotating each round."""
    results: dict[str, list[dict]] = {c: [] for c in cases}
    for round_ in range(rounds):
        for case in cases[round_ % len(cases):] + cases[:round_ % len(cases)]:
            results[case].append(run(case))
    return results


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="import,run", help="import, run or both (comma-separated)")
    parser.add_argument("--before", type=Path, help="an earlier checkout to run side by side")
    parser.add_argument("--root", type=Path, help="where the homes go (default: a temporary folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind = args.child[0]
        result = child_import() if kind == "import" else child_run(args.child[1])
        print("RESULT " + json.dumps(result))
        return

    sides = {"after": None} | ({"before": args.before.resolve()} if args.before else {})
    only = set(args.only.split(","))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.rounds} interleaved rounds, "
          f"medians; each case a fresh process")
    if "import" in only:
        started = load()
        runs = interleaved([f"import {s}" for s in sides], args.rounds,
                           lambda case: spawn(sides[case.split()[1]], None, "import"))
        print(f"\nimport fraud_pipelines.definitions; load {started} -> {load()}")
        print(f"  {'case':<16}{'import s':>10}{'process s':>11}{'CPU s':>8}  heavy modules loaded")
        for case, results in runs.items():
            print(f"  {case:<16}{median(results, 'import_seconds'):10.2f}{median(results, 'wall'):11.2f}"
                  f"{median(results, 'cpu'):8.2f}  {', '.join(results[0]['heavy']) or '-'}  "
                  f"(import s per round: {[round(r['import_seconds'], 2) for r in results]})")
        if "before" in sides:
            ratio = median(runs["import after"], "import_seconds") / median(runs["import before"], "import_seconds")
            print(f"  import after / before: {ratio:.2f}")
    if "run" in only:
        root = args.root or Path(tempfile.mkdtemp(prefix="step_startup_"))
        homes = {side: prepare(source, root, side) for side, source in sides.items()}
        started = load()
        runs = interleaved([f"run {s}" for s in sides], args.rounds,
                           lambda case: spawn(sides[case.split()[1]], homes[case.split()[1]], "run", RUN_DAY))
        steps = next(iter(runs.values()))[0]["steps"]
        print(f"\ndaily run of the data steps ({len(DATA_ASSETS)} assets and their checks, {steps} steps, "
              f"multiprocess executor), day {RUN_DAY} on a small home; load {started} -> {load()}")
        print(f"  {'case':<16}{'wall s':>8}{'CPU s':>8}  wall s per round")
        for case, results in runs.items():
            print(f"  {case:<16}{median(results, 'wall'):8.1f}{median(results, 'cpu'):8.1f}  "
                  f"{[round(r['wall'], 1) for r in results]}")
        if "before" in sides:
            after, before = runs["run after"], runs["run before"]
            print(f"  after / before: wall {median(after, 'wall') / median(before, 'wall'):.2f}, "
                  f"CPU {median(after, 'cpu') / median(before, 'cpu'):.2f}")
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
