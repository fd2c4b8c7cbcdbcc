"""What tokenizing card numbers at the door costs: raw ingestion of the seeded data (transactions,
then their labels) with and without pseudonymization, on the same read -> tokenize -> type -> audit ->
Delta-commit path (`ingest_days`). Each case runs in its own child process with a fresh FRAUD_HOME and
one fixed key; cases are interleaved and repeated, medians are reported. Target: at most 1.2x.

Usage: python bench/bench_tokenization.py [--sizes 1M,10M] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingestion import run_child as run_process  # noqa: E402  (one child runner for the benches)

SHAPES = {"1M": (10_000, 10, 100_000), "10M": (100_000, 90, 111_112)}  # cards, days, charges a day


def child(size: str, pseudonymized: bool) -> None:
    import great_expectations  # noqa: F401  (imported in both cases before the clock starts)

    from fraud_pipelines.raw.ingest import ingest_days
    from fraud_pipelines.resources import RawSourceResource, StorageResource

    cards, n_days, per_day = SHAPES[size]
    raw = RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=n_days)
    source, contract, storage = raw.source(), raw.contract(), StorageResource()
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(n_days)]
    began, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for table in ("transactions", "fraud_labels"):
        written = ingest_days(table, days, lambda d, t=table: source.day_parts(t, d), storage.raw_table(table),
                              contract=contract, charges=storage.raw_table("transactions"),
                              pseudonymized=pseudonymized)
        rows += written.rows if table == "transactions" else 0
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu}))


def tokenizing_only(size: str) -> None:
    """The tokenization step alone, on the same rows in the same chunks as ingestion (generation not timed)."""
    import numpy as np

    from fraud_pipelines.privacy.tokens import Tokenizer
    from fraud_pipelines.raw.ingest import CHUNK_ROWS, pseudonymize
    from fraud_pipelines.resources import RawSourceResource

    cards, n_days, per_day = SHAPES[size]
    source = RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=n_days).source()
    tokens = Tokenizer(bytes.fromhex("7f" * 32))
    seconds = cpu = 0.0
    rows = 0
    for table in ("transactions", "fraud_labels"):
        pending = []
        for i in range(n_days):
            pending += [p.frame for p in source.day_parts(table, date(2025, 1, 1) + timedelta(days=i))]
            if sum(len(f) for f in pending) >= CHUNK_ROWS or i == n_days - 1:
                import pandas as pd

                frame = pd.concat(pending, ignore_index=True)
                pending = []
                began, started = time.perf_counter(), time.process_time()
                pseudonymize(frame, tokens, np.array(["bench"], dtype=object))
                seconds += time.perf_counter() - began
                cpu += time.process_time() - started
                rows += len(frame) if table == "transactions" else 0
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}))


def run_child(size: str, pseudonymized: bool | int) -> tuple[dict, int]:
    """One case in a fresh FRAUD_HOME (2: the tokenization step alone): its JSON figures and peak RSS in kB."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster", "FRAUD_START_DATE": "2025-01-01",
               "FRAUD_TOKEN_KEY": "7f" * 32}
        return run_process([sys.executable, __file__, "--child", size, "--tokens", str(int(pseudonymized))], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.tokens == 2:
            tokenizing_only(args.child)
        else:
            child(args.child, bool(args.tokens))
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'size':>5} {'tokens':>6} {'rows':>12} {'seconds':>9} {'CPU s':>8} {'rows/s':>10} {'peak RSS':>9}")
    for size in args.sizes.split(","):
        seconds: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        peaks: dict[bool, list[int]] = {True: [], False: []}
        rows = 0
        for _ in range(args.repeats):
            for pseudonymized in (False, True):  # interleaved: the machine's load hits both alike
                figures, peak = run_child(size, pseudonymized)
                seconds[pseudonymized].append(figures["seconds"])
                cpu[pseudonymized].append(figures["cpu"])
                peaks[pseudonymized].append(peak)
                rows = figures["rows"]
        for pseudonymized in (False, True):
            median = statistics.median(seconds[pseudonymized])
            print(f"{size:>5} {'yes' if pseudonymized else 'no':>6} {rows:>12,} {median:>9.1f} "
                  f"{statistics.median(cpu[pseudonymized]):>8.1f} {rows / median:>10,.0f} "
                  f"{max(peaks[pseudonymized]) / 1024**2:>8.2f}G", flush=True)
        ratio = statistics.median(seconds[True]) / statistics.median(seconds[False])
        cpu_ratio = statistics.median(cpu[True]) / statistics.median(cpu[False])
        alone, _ = run_child(size, 2)
        step = (statistics.median(cpu[False]) + alone["cpu"]) / statistics.median(cpu[False])
        print(f"{size:>5} tokenized / plain: {ratio:.3f}x wall, {cpu_ratio:.3f}x CPU (target <= 1.2x; runs: "
              f"{', '.join(f'{s:.1f}' for s in seconds[False])} s plain, "
              f"{', '.join(f'{s:.1f}' for s in seconds[True])} s tokenized)", flush=True)
        print(f"{size:>5} the tokenization step alone: {alone['seconds']:.2f} s wall, {alone['cpu']:.2f} s CPU "
              f"for {alone['rows']:,} charges and their labels: plain ingestion's CPU plus it = {step:.3f}x",
              flush=True)


if __name__ == "__main__":
    main()
