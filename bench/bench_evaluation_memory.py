"""Benchmark of model_evaluation's memory on the split sizes of 10M charges (train 7M, validation 1M,
test 2M rows of the view's ten features): peak RSS and seconds of the logistic baseline's part, as it
was (all three splits in memory, the baseline fitted on every train row) and as it is (one split at a
time, the baseline fitted on at most 1M sampled train rows), each in its own child process.

Usage: python bench/bench_evaluation_memory.py [--train 7000000] [--validation 1000000] [--test 2000000]
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
FEATURES = ("category", "amount", "age_at_transaction", "days_until_card_expires", "loc_delta_t_minus_1",
            "time_delta_t_minus_1", "trans_volume_mavg", "trans_volume_mstd", "trans_freq", "loc_delta_mavg")


def frame(rows: int, seed: int):
    """Rows shaped like the transformed view: an integer code, floats with some missing values, 0.5 % fraud."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=rows) for name in FEATURES[1:]}
    data["loc_delta_t_minus_1"][rng.random(rows) < 0.01] = np.nan
    y = pd.Series((rng.random(rows) < 0.005).astype(np.int64), name="is_fraud")
    return pd.DataFrame({"category": rng.integers(-1, 14, rows), **data}), y


def case(mode: str, sizes: dict[str, int]) -> dict:
    import numpy as np

    from fraud_pipelines.training.baseline import train_baseline
    from fraud_pipelines.training.model import choose_threshold

    began = time.perf_counter()
    if mode == "before":  # get_train_validation_test_split: every split at once; every train row fitted
        (x_train, y_train), (x_val, y_val), (x_test, _) = (frame(sizes[n], i) for i, n in
                                                           enumerate(("train", "validation", "test")))
        baseline = train_baseline(x_train, y_train, max_rows=10**12)
        choose_threshold(np.asarray(y_val), baseline.predict_proba(x_val))
        baseline.predict_proba(x_test)
    else:  # one split at a time; at most 1M sampled train rows fitted
        x_train, y_train = frame(sizes["train"], 0)
        baseline = train_baseline(x_train, y_train)
        del x_train, y_train
        x_val, y_val = frame(sizes["validation"], 1)
        choose_threshold(np.asarray(y_val), baseline.predict_proba(x_val))
        del x_val, y_val
        x_test, _ = frame(sizes["test"], 2)
        baseline.predict_proba(x_test)
    return {"mode": mode, "seconds": round(time.perf_counter() - began, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=7_000_000)
    parser.add_argument("--validation", type=int, default=1_000_000)
    parser.add_argument("--test", type=int, default=2_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = {"train": args.train, "validation": args.validation, "test": args.test}
    if args.child:
        print(json.dumps(case(args.child, sizes)))
        return
    print(f"baseline part of model_evaluation, splits {sizes}")
    for mode in ("before", "after"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--train", str(args.train), "--validation",
                              str(args.validation), "--test", str(args.test)], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode:>7}: {result['seconds']:>7} s, peak RSS {result['peak_rss_gb']} GB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
