"""Benchmark of the whole graph (raw → features → training → scores) on 90 days / ~10M charges:
wall time and peak memory per asset.

Each asset runs as its own Dagster run in its own child process, in dependency order, against
one persistent instance and FRAUD_HOME, so each peak RSS (read with wait4) is that asset's own.
Every step runs with the graph's own defaults, as a user runs it: feature ranking on, the Optuna search at its
default budget (3 trials of up to 1,000 trees, 50 rounds of patience), calibration auto, the learning curve.
FRAUD_BENCH_TRIALS=N runs N trials instead (0: the search off); FRAUD_BENCH_SELECTION=off skips the ranking;
FRAUD_BENCH_MATERIALIZE=off records the training dataset without its rows (every training step joins again).
Usage: python bench/bench_pipeline.py [--cards 100000] [--days 90] [--per-day 111112] [--until ASSET]
       [--home DIR [--from ASSET | --steps A,B,...]]   (keep FRAUD_HOME in DIR; rerun from ASSET, or the
       listed assets, on a home kept earlier: each loads its inputs from the runs before it)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "raw_profiles", "raw_credit_cards", "raw_transactions", "raw_fraud_labels",
    "fraud_labels_fg", "transactions_fg", "transactions_4h_aggs",
    "fraud_feature_view", "training_dataset", "feature_selection", "model_tuning", "fraud_model", "learning_curve",
    "model_evaluation", "registered_model",
    "batch_scores",
]


def child(asset: str, cards: int, days: int, per_day: int) -> None:
    """Materialize one asset (and its checks) of the project's job over the whole range."""
    import time

    import dagster as dg

    from fraud_pipelines.definitions import defs

    last = (date(2025, 1, 1) + timedelta(days=days - 1)).isoformat()
    job = defs.resolve_job_def("fraud_pipeline_job")
    began = time.perf_counter()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        asset_selection=[dg.AssetKey(asset)],
        run_config={"resources": {"raw_source": {"config": {
            "n_cards": cards, "transactions_per_day": per_day, "horizon_days": days}}},
            # the search's default budget unless FRAUD_BENCH_TRIALS says otherwise (0: off)
            **({"ops": {"model_tuning": {"config": {"n_trials": int(os.environ["FRAUD_BENCH_TRIALS"]),
                                                    "timeout_seconds": 0}}}}
               if asset == "model_tuning" and os.environ.get("FRAUD_BENCH_TRIALS") else {}),
            # FRAUD_BENCH_SELECTION=off skips the ranking (fraud_model then trains on every feature, as by default)
            **({"ops": {"feature_selection": {"config": {"enabled": False}}}}
               if asset == "feature_selection" and os.environ.get("FRAUD_BENCH_SELECTION") == "off" else {}),
            # FRAUD_BENCH_MATERIALIZE=off: a version that stores no rows (the training steps re-run its joins)
            **({"ops": {"training_dataset": {"config": {"materialize": False}}}}
               if asset == "training_dataset" and os.environ.get("FRAUD_BENCH_MATERIALIZE") == "off" else {})},
        tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": last},
    )
    seconds = time.perf_counter() - began
    extra = {}
    if asset == "model_tuning":
        tuning = result.output_for_node("model_tuning")
        extra = {"note": "search off" if not tuning["enabled"] else
                 f"kept the base parameters: {tuning['kept_base']}"}
    if asset == "fraud_model":
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
        extra = {"note": "trees " + ("loaded from the search's chosen trial"
                                     if "not fitted again" in event.materialization.metadata["trees"].value
                                     else "fitted")}
    if asset == "model_evaluation":
        model = result.output_for_node("model_evaluation")["evaluations"]
        extra = {"pr_auc": model["model"]["pr_auc"], "baseline_pr_auc": model["baseline"]["pr_auc"],
                 "test_rows": model["model"]["n_rows"], "test_frauds": model["model"]["n_positives"]}
    print(json.dumps({"asset": asset, "seconds": seconds, "ok": result.success, **extra}))


def run_child(command: list[str], env: dict[str, str]) -> tuple[dict, int, float]:
    """Run a child, return its last JSON line, its own peak RSS in kB and its CPU seconds (from wait4)."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{command[-1]} failed; rerun the child by hand to see why: {' '.join(command)}")
        out.seek(0)
        return json.loads(out.read().strip().splitlines()[-1]), usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=111_112)
    parser.add_argument("--until", choices=ORDER, default=ORDER[-1], help="stop after this asset")
    parser.add_argument("--from", dest="start", choices=ORDER, default=ORDER[0],
                        help="start at this asset (its upstream kept in --home by an earlier run)")
    parser.add_argument("--steps", help="comma-separated assets to run, in this order (instead of --from/--until)")
    parser.add_argument("--home", help="FRAUD_HOME to use and keep (default: a temporary folder, removed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cards, args.days, args.per_day)
        return
    print(f"whole graph: {args.cards:,} cards, {args.days} days, ~{args.per_day:,} charges a day "
          f"(~{args.days * args.per_day / 1e6:.1f}M), each asset its own run and process")
    print(f"{'asset':<22} {'seconds':>9} {'peak RSS':>10} {'CPU s':>7}  (CPU: the process's own, less moved by load)")
    trials = os.environ.get("FRAUD_BENCH_TRIALS")
    print(f"settings: search {'at its default budget (3 trials)' if trials is None else f'{trials} trials'}"
          f"{' (off)' if trials == '0' else ''}, feature ranking "
          f"{'off' if os.environ.get('FRAUD_BENCH_SELECTION') == 'off' else 'on'}, training dataset "
          f"{'without its rows' if os.environ.get('FRAUD_BENCH_MATERIALIZE') == 'off' else 'materialized'}; "
          "everything else the graph's defaults")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    total = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or scratch
        env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
        Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        steps = args.steps.split(",") if args.steps else ORDER[ORDER.index(args.start):ORDER.index(args.until) + 1]
        unknown = sorted(set(steps) - set(ORDER))
        if unknown:
            raise SystemExit(f"--steps: unknown assets {unknown}; known: {', '.join(ORDER)}")
        for asset in steps:
            command = [sys.executable, __file__, "--child", asset, "--cards", str(args.cards),
                       "--days", str(args.days), "--per-day", str(args.per_day)]
            figures, peak_kb, cpu = run_child(command, env)
            total += figures["seconds"]
            note = f"  {figures['note']}" if "note" in figures else ""
            if "pr_auc" in figures:
                note = (f"  PR-AUC {figures['pr_auc']:.3f} vs baseline {figures['baseline_pr_auc']:.3f} "
                        f"on {figures['test_rows']:,} test charges ({figures['test_frauds']:,} frauds)")
            load = os.getloadavg()[0]
            print(f"{asset:<22} {figures['seconds']:>9.1f} {peak_kb / 1024**2:>8.2f} GB {cpu:>7.1f}  "
                  f"load {load:4.2f}{note}", flush=True)
    print(f"{'total':<22} {total:>9.1f}")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
