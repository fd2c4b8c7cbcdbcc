"""What an online copy costs a feature group's write: the `transactions` group (one row per
charge, ~20 columns) written with and without its SQLite online copy, as `transactions_fg`
writes it in a daily run (one insert a day, the group's suite validated before each commit).

The tid-keyed groups are offline only since nothing reads them online; this prints the time that
saves. Runs alternate between the two settings (`--repeats` each, fresh store every time) and
the figures are medians, so a noisy machine affects both alike.
Usage: python bench/bench_online_copies.py [--days 9] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import ROWS_PER_DAY, generate  # noqa: E402

from feature_logic.transactions import transaction_features  # noqa: E402
from fraud_pipelines.feature_store import FeatureStore  # noqa: E402
from fraud_pipelines.features import groups  # noqa: E402


def write_once(features, online: bool) -> float:
    spec = dataclasses.replace(groups.TRANSACTIONS, online_enabled=online)
    with tempfile.TemporaryDirectory() as root:
        fg = spec.for_writing(FeatureStore(root))
        began = time.perf_counter()
        for _, day in features.groupby(features["datetime"].dt.floor("D"), sort=True):
            fg.insert(day)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=9, help=f"days of ~{ROWS_PER_DAY:,} charges (9: ~1M)")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    transactions, profiles, credit_cards = generate(args.cards, args.days)
    features = transaction_features(transactions, profiles, credit_cards, None)
    print(f"transactions group: {len(features):,} rows x {features.shape[1]} columns, "
          f"{args.repeats} alternating runs each")
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for online in (True, False):
            times[online].append(write_once(features, online))
    with_copy, without = statistics.median(times[True]), statistics.median(times[False])
    print(f"{'offline + online (before)':<28} {with_copy:8.2f} s  runs {[round(t, 2) for t in times[True]]}")
    print(f"{'offline only (now)':<28} {without:8.2f} s  runs {[round(t, 2) for t in times[False]]}")
    print(f"saved {with_copy - without:.2f} s ({1 - without / with_copy:.0%} of the write)")


if __name__ == "__main__":
    main()
