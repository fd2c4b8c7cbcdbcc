"""Cost of write-audit-publish on the `transactions` feature group: inserting one 10-day chunk of
features (1M charges by default) with its Great Expectations suite run before the commit
("strict", what the assets do) against the same insert without a suite ("none").

Each case runs in its own child process on a fresh store (peak RSS is its own; "run peak"
restarts the high-water mark after the features are built). The online store is written in both.
Usage: python bench/bench_feature_audit.py [--size 1M] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import SHAPES, START, _reset_rss_peak, _rss_peak_mb, generate  # noqa: E402

from feature_logic.transactions import transaction_features  # noqa: E402


def child(case: str, size: str, repeats: int) -> dict:
    """Build the features of `size` charges once, then time `repeats` inserts into fresh stores."""
    from fraud_pipelines.feature_store import FeatureStore
    from fraud_pipelines.feature_store.specs import suite_from_json
    from fraud_pipelines.feature_store.validation import validate
    from fraud_pipelines.features import groups

    cards, days = SHAPES[size]
    transactions, profiles, credit_cards = generate(cards, days)
    features = transaction_features(transactions, profiles, credit_cards)
    window = (START, START + (features["datetime"].max() - START).ceil("D"))
    build_peak = _rss_peak_mb()
    _reset_rss_peak()
    times, validation_times = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as root:
            fs = FeatureStore(root)
            if case == "strict":
                fg = groups.TRANSACTIONS.for_writing(fs)
                began = time.perf_counter()
                report = validate(features, suite_from_json(fg.spec.expectations), suite_name="alone",
                                  id_columns=["tid"])
                validation_times.append(time.perf_counter() - began)
                assert report.success, report.summary()
            else:
                fg = groups.TRANSACTIONS.get_or_create(fs)
            began = time.perf_counter()
            fg.insert(features, replace_time_range=window)
            times.append(time.perf_counter() - began)
    return {
        "case": case, "rows": len(features), "seconds": statistics.median(times),
        "validation_seconds": statistics.median(validation_times) if validation_times else 0.0,
        "build_peak_rss_mb": build_peak, "run_peak_rss_mb": _rss_peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1M", choices=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.size, args.repeats)))
        return

    def spawn(case: str) -> dict:
        output = subprocess.run(
            [sys.executable, __file__, "--size", args.size, "--repeats", str(args.repeats), "--child", case],
            check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "TQDM_DISABLE": "1"},
        ).stdout
        return json.loads(output.strip().splitlines()[-1])

    results = {case: spawn(case) for case in ("none", "strict")}
    none, strict = results["none"], results["strict"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {none['rows']:,} charges in one chunk, "
          f"median of {args.repeats} insert(s)")
    print(f"{'case':<8}{'insert s':>10}{'rows/s':>12}{'run peak MB':>13}{'build peak MB':>15}")
    for case, result in results.items():
        print(f"{case:<8}{result['seconds']:>10.2f}{result['rows'] / result['seconds']:>12,.0f}"
              f"{result['run_peak_rss_mb']:>13.0f}{result['build_peak_rss_mb']:>15.0f}")
    print(f"strict / none: {strict['seconds'] / none['seconds']:.2f}x; the suite alone on the same rows: "
          f"{strict['validation_seconds']:.2f}s")


if __name__ == "__main__":
    main()
