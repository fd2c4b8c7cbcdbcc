"""What the write–audit–publish audit costs: raw ingestion of the seeded data (transactions, then
their labels) with and without the pre-commit audit (Great Expectations suite + cross-table rules),
on the same read → type → Delta-commit path. Great Expectations is imported before the clock starts in
both cases (~4 s once per process; every run imports it for its blocking checks anyway). Each case
runs in its own child process with a fresh
FRAUD_HOME, so its peak RSS is its own; cases are interleaved and repeated, medians are reported.

Usage: python bench/bench_audit.py [--sizes 1M,10M] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingestion_ab import ingest_seeded, interleaved, run_case  # noqa: E402


def child(size: str, audited: bool) -> None:
    print(json.dumps(ingest_seeded(size, audited=audited)))


def run_audit(size: str, audited: bool) -> tuple[dict, int]:
    """One case in a fresh FRAUD_HOME: its figures and its own peak RSS in kB."""
    return run_case(__file__, ["--child", size, "--audited", str(int(audited))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--audited", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, bool(args.audited))
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'size':>5} {'audit':>6} {'rows':>12} {'seconds':>9} {'rows/s':>10} {'peak RSS':>9}")
    for size in args.sizes.split(","):
        runs = interleaved(lambda audited, size=size: run_audit(size, audited), args.repeats)
        for audited in (False, True):
            case = runs[audited]
            print(f"{size:>5} {'yes' if audited else 'no':>6} {case.rows:>12,} {case.median_seconds:>9.1f} "
                  f"{case.rows / case.median_seconds:>10,.0f} {case.peak_gb:>7.2f} GB")
        ratio = runs[True].median_seconds / runs[False].median_seconds
        print(f"{size:>5} audited / not audited: {ratio:.2f}x time, "
              f"{runs[True].peak_gb / runs[False].peak_gb:.2f}x peak memory (target <= 1.3x time)")


if __name__ == "__main__":
    main()
