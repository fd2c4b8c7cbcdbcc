"""What reading a training split costs the training steps: the point-in-time join over the Delta versions a
training dataset pinned (a version that stores no rows, `materialize=False`) against the same rows stored once
with the version (the default) and read back.

On a home kept by `bench_pipeline.py --home DIR` (only read: the stored copy goes to a scratch folder), each case
in a fresh process, repeats interleaved, medians of wall seconds, CPU seconds and peak RSS, load average beside:
- `join` / `stored`: the split's rows as Arrow, in order (what `_split_rows` returns), the join under the training
  steps' query-memory bound;
- `join+pandas` / `stored+pandas`: the same as the pandas frame the steps get (`_split_frame`);
- `write`: the join once more and its rows written as the version's copy (`frozen_splits.write_split`): what
  creating a materialized version adds per split. Its output is the copy the `stored` cases read.
Usage: python bench/bench_split_reads.py --home DIR [--split train] [--version N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import run_child  # noqa: E402

CASES = ("join", "stored", "join+pandas", "stored+pandas")


def child(how: str, split: str, version: int | None, copy: str) -> dict:
    from fraud_pipelines.feature_store.frozen_splits import stored_rows, write_split
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.training import fraud_view

    fv = fraud_view.get_or_create(fraud_view.training_store(StorageResource()))
    record = fv.get_training_dataset(version or max(fv.training_dataset_versions()))
    joined = replace(record, frozen={})  # the same version without its copy: read through the join
    began, cpu = time.perf_counter(), time.process_time()
    if how == "write":
        rows = fv._plan.join(fv._context.connect(), fv._snapshots(record.delta_versions), record.splits[split],
                             engine=fv._engine)
        write_split(copy, rows.table, order=rows.order)
        shape = (rows.num_rows, rows.table.num_columns)
    else:
        stored = replace(record, frozen={split: copy}, row_counts={**record.row_counts, split: stored_rows(copy)})
        source = stored if how.startswith("stored") else joined
        data = fv._split_frame(source, split) if how.endswith("pandas") else fv._split_rows(source, split)
        shape = data.shape
    return {"how": how, "rows": shape[0], "columns": shape[1], "seconds": time.perf_counter() - began,
            "cpu": time.process_time() - cpu}


def run(args: argparse.Namespace, how: str, copy: str, env: dict) -> dict:
    command = [sys.executable, __file__, "--home", args.home, "--split", args.split, "--child", how, "--copy", copy,
               *(["--version", str(args.version)] if args.version else [])]
    result, peak_kb, _ = run_child(command, env)
    result["peak_gb"] = peak_kb / 1024**2
    result["load"] = os.getloadavg()[0]
    print(f"  {how:<14} {result['rows']:>11,} rows x {result['columns']} columns  {result['seconds']:6.1f} s  CPU "
          f"{result['cpu']:6.1f} s  peak RSS {result['peak_gb']:.2f} GB  load {result['load']:.2f}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--version", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--copy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.split, args.version, args.copy)))
        return
    env = {**os.environ, "FRAUD_HOME": args.home, "DAGSTER_HOME": f"{args.home}/dagster"}
    print(f"split {args.split} of {args.home}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    results: dict[str, list[dict]] = {how: [] for how in ("write", *CASES)}
    with tempfile.TemporaryDirectory(prefix="split_copy_") as scratch:
        for repeat in range(args.repeats):
            print(f"round {repeat + 1}", flush=True)
            copy = f"{scratch}/split{repeat}"
            results["write"].append(run(args, "write", copy, env))
            for how in CASES:
                results[how].append(run(args, how, copy, env))
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"medians of {args.repeats} (load {min(loads):.2f}-{max(loads):.2f}):")
    median = {how: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "cpu", "peak_gb")}
              for how, rs in results.items()}
    for how, m in median.items():
        print(f"  {how:<14} {m['seconds']:6.1f} s  CPU {m['cpu']:6.1f} s  peak {m['peak_gb']:.2f} GB")
    for stored, join in (("stored", "join"), ("stored+pandas", "join+pandas")):
        ratio = {k: median[stored][k] / median[join][k] for k in ("seconds", "cpu", "peak_gb")}
        print(f"  {stored} / {join}: wall {ratio['seconds']:.2f}x, CPU {ratio['cpu']:.2f}x, "
              f"peak {ratio['peak_gb']:.2f}x")


if __name__ == "__main__":
    main()
