"""Benchmark of the synthetic generator: rows/s and peak memory for 1M and 10M transactions
generated day by day (~111k charges a day over 100k cards), and a year of the demo's data (5,000
cards, ~10k charges a day, 365 days in periods of 90), with and without the conversion of each
day to Arrow tables of the raw schemas. `entities` includes the history tables through the
last day.

Each case runs in its own child process, so its peak RSS is its own; `import_rss` is the RSS
after imports, before any data. Usage: python bench/bench_generator.py [--sizes 1M,10M,365d]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {  # name -> (cards, days, transactions per day, days per period of moves and reissues)
    "1M": (100_000, 9, 111_111, 9),
    "10M": (100_000, 90, 111_111, 90),
    "365d": (5_000, 365, 10_000, 90),
}


def run_case(name: str) -> dict:
    """Generate one case day by day in this process and return its figures."""
    sys.path.insert(0, str(ROOT))
    import pyarrow as pa

    from feature_logic import schema
    from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator

    import_rss_mb = _peak_rss_mb()
    cards, days, per_day, period_days = SHAPES[name]
    config = SyntheticConfig(
        start_date=dt.date(2025, 1, 1), n_days=period_days, n_cards=cards, transactions_per_day=per_day
    )
    last = config.start_date + dt.timedelta(days=days - 1)

    started = time.perf_counter()
    generator = SyntheticGenerator(config)
    histories = (generator.credit_cards(until=last), generator.profiles(until=last))
    entities_s = time.perf_counter() - started

    rows = frauds = 0
    day_seconds, arrow_seconds = [], []
    for offset in range(days):
        day = config.start_date + dt.timedelta(days=offset)
        tick = time.perf_counter()
        data = generator.day(day)
        tock = time.perf_counter()
        pa.Table.from_pandas(data.transactions, schema=schema.TRANSACTIONS, preserve_index=False)
        pa.Table.from_pandas(data.fraud_labels, schema=schema.FRAUD_LABELS, preserve_index=False)
        arrow_seconds.append(time.perf_counter() - tock)
        day_seconds.append(tock - tick)
        rows += len(data.transactions)
        frauds += int(data.fraud_labels["is_fraud"].sum())
        del data
    generate_s = sum(day_seconds)
    return {
        "case": name,
        "rows": rows,
        "fraud_rate": frauds / rows,
        "history_rows": sum(len(h) for h in histories),
        "entities_s": entities_s,
        "median_day_s": statistics.median(day_seconds),
        "generate_rows_per_s": rows / generate_s,
        "with_arrow_rows_per_s": rows / (generate_s + sum(arrow_seconds)),
        "total_s": entities_s + generate_s,
        "import_rss_mb": import_rss_mb,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run each requested case in a child process, one after the other, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M,365d", help="comma-separated cases: " + ",".join(SHAPES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return

    print(f"{'case':>5} {'rows':>11} {'fraud':>7} {'entities':>9} {'day (med)':>10} "
          f"{'rows/s':>11} {'+arrow':>11} {'total':>7} {'imports':>8} {'peak RSS':>9}")  # fmt: skip
    for name in args.sizes.split(","):
        if name not in SHAPES:
            raise SystemExit(f"unknown size {name!r}; choose from {', '.join(SHAPES)}")
        child = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{r['case']:>5} {r['rows']:>11,} {r['fraud_rate']:>7.2%} {r['entities_s']:>8.2f}s "
            f"{r['median_day_s'] * 1000:>8.1f}ms {r['generate_rows_per_s']:>11,.0f} "
            f"{r['with_arrow_rows_per_s']:>11,.0f} {r['total_s']:>6.1f}s "
            f"{r['import_rss_mb']:>6.0f}MB {r['peak_rss_mb']:>7.0f}MB"
        )


if __name__ == "__main__":
    main()
