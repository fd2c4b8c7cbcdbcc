"""Benchmark of reason codes (XGBoost TreeSHAP, `pred_contribs`): what they add to batch scoring
and to POST /predict.

Batch: the real scoring path (`scoring.batch.VersionScorer`: the feature view's batch data, the
champion's calibrated scores, the Delta write) over every day of a home built by the Dagster
graph, with reason codes for no charge, for alerts only (the default) and for every charge; then
the TreeSHAP cost per charge on its own, from which the cost at 10M charges is extrapolated
(labelled as such). REST: /predict p50/p99 with and without `include_reasons=true` on the same
requests, at concurrency 1 and 8. Targets (issue 16): batch with reasons <= 1.5x without, /predict
p99 with reasons <= 1.5x without.

Usage: python bench/bench_reason_codes.py [--home DIR] [--cards 2000] [--per-day 20000] [--days 5]
       [--requests 1500] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")


def _serving_bench():
    """bench_serving.py's helpers (home building, server start/stop, the HTTP client)."""
    spec = importlib.util.spec_from_file_location("bench_serving", Path(__file__).with_name("bench_serving.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_batch(home: Path, scratch: Path) -> dict[str, float]:
    """Seconds to score (and write) every stored day with each reason-code setting."""
    from fraud_pipelines.features.writes import chunks
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.scoring.batch import VersionScorer
    from fraud_pipelines.scoring.tables import SCORES
    from fraud_pipelines.tables import DeltaDayTable

    storage = StorageResource(root=str(home))
    mlflow = _serving_bench()._mlflow(home)
    champion = mlflow.get_champion()
    scorer = VersionScorer.load(mlflow, storage.feature_store(), champion.version, champion.training_dataset_version)
    days = [np.datetime64(d).astype(object) for d in storage.raw_table("transactions").days()]
    trees = scorer.explainer.iteration_range[1]
    print(f"champion v{champion.version}: {trees} trees, {len(scorer.model.feature_names)} features; "
          f"{len(days)} days")
    timings: dict[str, float] = {}
    charges = alerts = 0
    for mode in ("none", "alerts", "all", "none"):  # "none" again last: the first pass warms caches
        table = DeltaDayTable(str(scratch / f"scores_{mode}_{time.monotonic_ns()}"), SCORES, time_column="datetime")
        began = time.perf_counter()
        charges = alerts = 0
        for start, end in chunks(days):
            scored = scorer.score(start, end, reasons=mode)
            table.replace_days(scored, [d for d in days if start.date() <= d < end.date()])
            charges, alerts = charges + len(scored), alerts + int(scored["decision"].sum())
        timings[mode] = time.perf_counter() - began
        print(f"  batch scoring, reasons={mode:<6} {timings[mode]:7.1f} s  ({charges:,} charges, {alerts:,} alerts)",
              flush=True)
    # TreeSHAP alone on a sample of charges, for the per-charge cost and the 10M extrapolation
    spine = scorer.transactions.read(columns=["tid", "datetime"]).head(5_000)
    features = scorer.feature_view.get_batch_data(spine=spine, primary_key=True)
    matrix = features[list(scorer.model.feature_names)].to_numpy(dtype=np.float64, na_value=np.nan)
    began = time.perf_counter()
    scorer.explainer.contributions(matrix)
    per_row = (time.perf_counter() - began) / len(matrix)
    began = time.perf_counter()
    scorer.model.predict_proba(features)
    score_row = (time.perf_counter() - began) / len(matrix)
    base = timings["none"]
    print(f"\n  per charge: TreeSHAP {per_row * 1e6:,.0f} us, scoring (trees + calibration) {score_row * 1e6:.1f} us")
    print(f"  batch with reasons / without: alerts x{timings['alerts'] / base:.2f}, all x{timings['all'] / base:.2f} "
          f"(target <= 1.5x: alerts {'ok' if timings['alerts'] <= 1.5 * base else 'MISSED'}, "
          f"all {'ok' if timings['all'] <= 1.5 * base else 'MISSED'})")
    rate = alerts / charges if charges else 0.0
    per_charge = base / charges
    print(f"  extrapolated to 10M charges (not measured at that size): scoring without reasons "
          f"{per_charge * 1e7 / 60:,.0f} min; TreeSHAP for alerts ({rate:.1%}) +{per_row * rate * 1e7 / 60:,.0f} min, "
          f"for every charge +{per_row * 1e7 / 3600:,.1f} h on {os.cpu_count()} cores")
    return timings


def bench_rest(home: Path, requests: int, scratch: Path) -> None:
    """/predict with and without include_reasons=true, same bodies, alternating per concurrency."""
    serving = _serving_bench()
    bodies = serving.requests_for(home, requests + 300, phase=2)
    port = serving._free_port()
    command = [sys.executable, "-m", "fraud_pipelines.serving", "--host", "127.0.0.1", "--port", str(port)]
    server = serving.start(command, {"FRAUD_HOME": str(home), "FRAUD_ONLINE_STORE": "sqlite"}, port,
                           scratch / "serving.log")
    try:
        warm, rest = bodies[:300], bodies[300:]
        serving.hammer(port, warm, 4)
        serving.hammer(port, warm, 4, "/predict?include_reasons=true")
        print()
        for concurrency in (1, 8):
            # three alternating rounds on the same bodies: a burst of load elsewhere hits both sides alike
            rounds: dict[str, list] = {"without": [], "with": []}
            for _ in range(3):
                rounds["without"].append(serving.hammer(port, rest, concurrency))
                rounds["with"].append(serving.hammer(port, rest, concurrency, "/predict?include_reasons=true"))
            median = {side: {key: float(np.median([r[0][key] for r in runs])) for key in ("p50", "p99")} |
                      {"rate": float(np.median([r[1] for r in runs]))} for side, runs in rounds.items()}
            plain, reasons = median["without"], median["with"]
            ratio = reasons["p99"] / plain["p99"]
            print(f"  /predict c={concurrency} (median of 3 rounds of {len(rest)}): without reasons p50 "
                  f"{plain['p50']:.2f} ms p99 {plain['p99']:.2f} ms ({plain['rate']:,.0f}/s); with reasons p50 "
                  f"{reasons['p50']:.2f} ms p99 {reasons['p99']:.2f} ms ({reasons['rate']:,.0f}/s); "
                  f"p99 x{ratio:.2f} ({'ok' if ratio <= 1.5 else 'MISSED'} <= 1.5x)", flush=True)
    finally:
        serving.stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a $FRAUD_HOME with a champion, batch scores and serving state")
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1_500)
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_reasons_"))
    home = Path(args.home) if args.home else scratch / "fraud_home"
    try:
        if not args.home:
            _serving_bench().build_home(home, args.cards, args.per_day, args.days)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        bench_batch(home, scratch)
        if not args.skip_rest:
            bench_rest(home, args.requests, scratch)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
