"""What re-reading a training split costs the training steps, against reading a stored copy of the same rows.

Each of feature_selection, model_tuning, fraud_model, learning_curve and model_evaluation reads its splits again
through the point-in-time join over the Delta versions the training dataset pinned (the store keeps no rows for a
version). This times, on a home kept by `bench_pipeline.py --home DIR`, that join for one split (as Arrow, under
the training steps' query-memory bound) against the same rows written once as a frozen split (the store's own
format for erased versions, `frozen_splits.py`) and read back, each in its own process, with peak RSS and CPU.
Usage: python bench/bench_split_reads.py --home DIR [--split train] [--version N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(how: str, split: str, version: int | None, copy: str) -> dict:
    from fraud_pipelines.feature_store.frozen_splits import read_split, write_split
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.training import fraud_view

    fv = fraud_view.get_or_create(fraud_view.training_store(StorageResource()))
    record = fv.get_training_dataset(version or max(fv.training_dataset_versions()))
    began, cpu = time.perf_counter(), time.process_time()
    if how == "join":
        table = fv._split_rows(record, split)
    elif how == "write":  # the join once more, then its rows stored: what freezing at creation would add
        table = fv._split_rows(record, split)
        write_split(copy, table)
    else:
        table = read_split(copy)
    return {"how": how, "rows": table.num_rows, "columns": table.num_columns,
            "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--version", type=int)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--copy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.split, args.version, args.copy)))
        return
    env = {**os.environ, "FRAUD_HOME": args.home, "DAGSTER_HOME": f"{args.home}/dagster"}
    print(f"split {args.split} of {args.home}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="split_copy_") as scratch:
        for how in ("join", "write", "frozen"):
            command = [sys.executable, __file__, "--home", args.home, "--split", args.split, "--child", how,
                       "--copy", f"{scratch}/split", *(["--version", str(args.version)] if args.version else [])]
            with tempfile.TemporaryFile("w+") as out:
                process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL,
                                           text=True)
                _, status, usage = os.wait4(process.pid, 0)
                if os.waitstatus_to_exitcode(status):
                    raise SystemExit(f"{how} failed: rerun {' '.join(command)}")
                out.seek(0)
                r = json.loads(out.read().strip().splitlines()[-1])
            print(f"  {how:<7} {r['rows']:>11,} rows x {r['columns']} columns  {r['seconds']:6.1f} s  CPU "
                  f"{r['cpu']:6.1f} s  peak RSS {usage.ru_maxrss / 1024**2:.2f} GB  load {os.getloadavg()[0]:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
