"""Benchmark of the promotion bootstrap: seconds and peak memory of one paired, class-stratified
bootstrap of the PR-AUC difference (1,000 resamples) for test splits of 5k, 120k (the demo's) and
1M/2M rows (10M charges give a 2M-row test split) at 0.5 % fraud, in both regimes: well-separated
scores with few distinct values (negatives drawn per score bucket pair) and continuous scores
(negatives drawn row by row). A promotion runs one bootstrap per compared version (champion + 3).

Each case runs in its own child process, so its peak RSS is its own.
Usage: python bench/bench_promotion.py [--sizes 5k,120k,1M,2M] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"5k": 5_000, "120k": 120_000, "1M": 1_000_000, "2M": 2_000_000}


def case(rows: int, regime: str, resamples: int) -> dict:
    import numpy as np

    from fraud_pipelines.training.promotion import bootstrap_pr_auc_difference

    rng = np.random.default_rng(0)
    y = (rng.random(rows) < 0.005).astype(np.int8)
    champion = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
    challenger = np.clip(champion + rng.normal(0, 0.05, rows) + 0.02 * y, 0, 1)
    if regime == "bucketed":  # scores with few distinct values, like calibrated steps
        champion, challenger = np.round(champion, 2), np.round(challenger, 2)
    began = time.perf_counter()
    interval = bootstrap_pr_auc_difference(y, challenger, champion, n_resamples=resamples, seed=0)
    seconds = time.perf_counter() - began
    return {"rows": rows, "regime": regime, "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "interval": [round(interval.low, 4), round(interval.high, 4)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5k,120k,1M,2M")
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(case(int(args.child[0]), args.child[1], args.resamples)))
        return
    print(f"{'rows':>10} {'regime':>10} {'seconds':>8} {'peak RSS MB':>12}  interval")
    for name in args.sizes.split(","):
        for regime in ("bucketed", "continuous"):
            out = subprocess.run([sys.executable, __file__, "--resamples", str(args.resamples), "--child",
                                  str(SIZES[name]), regime], cwd=ROOT, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{result['rows']:>10,} {regime:>10} {result['seconds']:>8} {result['peak_rss_mb']:>12}  "
                  f"{result['interval']}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
