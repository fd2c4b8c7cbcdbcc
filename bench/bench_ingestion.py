"""Benchmark of raw ingestion: the seeded generator plus the raw Dagster assets writing Delta
tables (transactions and their labels, histories), for 1M and 10M transactions, as one backfill
run each. rows/s counts transactions; each run also writes as many label rows.

Each case runs in its own child process (a fresh FRAUD_HOME), so its peak RSS is its own.
Usage: python bench/bench_ingestion.py [--sizes 1M,10M]   (100k: a quick try)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {  # name -> (cards, days, transactions per day)
    "100k": (1_000, 5, 20_000),  # a quick try of a bench
    "1M": (10_000, 10, 100_000),
    "10M": (100_000, 90, 111_112),
}


def child(size: str) -> None:
    """Materialize the raw assets for one shape and print a JSON line of figures."""
    import dagster as dg

    from fraud_pipelines.raw.assets import RAW_ASSETS
    from fraud_pipelines.resources import RawSourceResource, StorageResource

    cards, days, per_day = SHAPES[size]
    resources = {
        "storage": StorageResource(),
        "raw_source": RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=days),
    }
    last = (date(2025, 1, 1) + timedelta(days=days - 1)).isoformat()
    began = time.perf_counter()
    result = dg.materialize(
        RAW_ASSETS,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": last},
    )
    seconds = time.perf_counter() - began
    rows = StorageResource().raw_table("transactions").count()
    assert result.success
    print(json.dumps({"size": size, "rows": rows, "seconds": seconds}))


def run_child(command: list[str], env: dict[str, str]) -> tuple[dict, int]:
    """Run a child, return its last JSON line and its own peak RSS in kB (from wait4)."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"{command} failed with exit code {process.returncode}")
        out.seek(0)
        return json.loads(out.read().strip().splitlines()[-1]), usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"{'size':>5} {'rows':>12} {'seconds':>9} {'rows/s':>12} {'peak RSS':>10}")
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
            figures, peak_kb = run_child([sys.executable, __file__, "--child", size], env)
            peak = f"{peak_kb / 1024**2:.2f} GB"
            print(f"{size:>5} {figures['rows']:>12,} {figures['seconds']:>9.1f} "
                  f"{figures['rows'] / figures['seconds']:>12,.0f} {peak:>10}", flush=True)


if __name__ == "__main__":
    main()
