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
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingestion_ab import SHAPES, ingest_seeded, interleaved, run_case, seeded_days  # noqa: E402

KEY = "7f" * 32  # one fixed key for every case


def child(size: str, pseudonymized: bool) -> None:
    print(json.dumps(ingest_seeded(size, pseudonymized=pseudonymized)))


def tokenizing_only(size: str) -> None:
    """The tokenization step alone, on the same rows in the same chunks as ingestion (generation not timed)."""
    import numpy as np

    from fraud_pipelines.privacy.tokens import Tokenizer
    from fraud_pipelines.raw.ingest import CHUNK_ROWS, pseudonymize
    from fraud_pipelines.resources import RawSourceResource

    cards, n_days, per_day = SHAPES[size]
    source = RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=n_days).source()
    tokens = Tokenizer(bytes.fromhex(KEY))
    seconds = cpu = 0.0
    rows = 0
    for table in ("transactions", "fraud_labels"):
        pending = []
        days = seeded_days(size)
        for i, day in enumerate(days):
            pending += [p.frame for p in source.day_parts(table, day)]
            if sum(len(f) for f in pending) >= CHUNK_ROWS or i == len(days) - 1:
                import pandas as pd

                frame = pd.concat(pending, ignore_index=True)
                pending = []
                began, started = time.perf_counter(), time.process_time()
                pseudonymize(frame, tokens, np.array(["bench"], dtype=object))
                seconds += time.perf_counter() - began
                cpu += time.process_time() - started
                rows += len(frame) if table == "transactions" else 0
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}))


def run_tokens(size: str, mode: int) -> tuple[dict, int]:
    """One case in a fresh FRAUD_HOME (mode 2: the tokenization step alone): its figures and peak RSS in kB."""
    return run_case(__file__, ["--child", size, "--tokens", str(mode)], {"FRAUD_TOKEN_KEY": KEY})


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
        runs = interleaved(lambda pseudonymized, size=size: run_tokens(size, int(pseudonymized)), args.repeats)
        for pseudonymized in (False, True):
            case = runs[pseudonymized]
            print(f"{size:>5} {'yes' if pseudonymized else 'no':>6} {case.rows:>12,} {case.median_seconds:>9.1f} "
                  f"{case.median_cpu:>8.1f} {case.rows / case.median_seconds:>10,.0f} {case.peak_gb:>8.2f}G",
                  flush=True)
        ratio = runs[True].median_seconds / runs[False].median_seconds
        cpu_ratio = runs[True].median_cpu / runs[False].median_cpu
        alone, _ = run_tokens(size, 2)
        step = (runs[False].median_cpu + alone["cpu"]) / runs[False].median_cpu
        print(f"{size:>5} tokenized / plain: {ratio:.3f}x wall, {cpu_ratio:.3f}x CPU (target <= 1.2x; runs: "
              f"{', '.join(f'{s:.1f}' for s in runs[False].seconds)} s plain, "
              f"{', '.join(f'{s:.1f}' for s in runs[True].seconds)} s tokenized)", flush=True)
        print(f"{size:>5} the tokenization step alone: {alone['seconds']:.2f} s wall, {alone['cpu']:.2f} s CPU "
              f"for {alone['rows']:,} charges and their labels: plain ingestion's CPU plus it = {step:.3f}x",
              flush=True)


if __name__ == "__main__":
    main()
