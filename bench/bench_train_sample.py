"""Benchmark of training on weighted samples (`TrainingParams.max_train_rows` for the fit, `max_stopping_rows` for
early stopping's validation metric): for each pair of budgets, the fit's wall and CPU seconds, peak memory, trees,
and the validation and test PR-AUC of the trees (on every validation and test row), beside a fit on every row.
Run on a training dataset kept by `bench_pipeline.py --home DIR --until training_dataset` (10M charges: 7M train
rows).

Each case runs in its own process (fresh allocations, its own peak RSS); rounds are interleaved and the figures are
medians over rounds, with the load average. The sample's seed is the model's (`--seeds` draws other samples: the
PR-AUC spread between seeds is the noise the budget has to stay within).
Usage: python bench/bench_train_sample.py --home DIR [--budgets 0:0,1000000:0,1000000:250000] [--seeds 42]
       [--repeats 1]   (each budget TRAIN:STOPPING; 0: every row)
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

ROOT = Path(__file__).resolve().parents[1]


def child(budget: int, stopping: int, seed: int) -> dict:
    """One fit through `train_model`, as fraud_model makes it, then the test split scored whole."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.training import fraud_view
    from fraud_pipelines.training.model import TrainingParams, train_model

    fv = fraud_view.get_or_create(fraud_view.training_store(StorageResource()))
    version = max(fv.training_dataset_versions())
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version)
    params = TrainingParams(max_train_rows=budget, max_stopping_rows=stopping, seed=seed, calibration="none")
    began, cpu = time.perf_counter(), time.process_time()
    trained = train_model(x_train, y_train, x_val, y_val, params)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    del x_train, y_train
    [(x_test, y_test)] = fraud_view.read_splits(fv, version, ("test",))
    test_pr_auc = average_precision_score(np.asarray(y_test), trained.raw_proba(x_test))
    summary = trained.summary()
    return {"budget": budget, "stopping": stopping, "seed": seed, "fitted_rows": summary["n_fitted_rows"],
            "train_rows": summary["n_train_rows"], "fit_s": seconds, "fit_cpu_s": cpu, "trees": summary["n_trees"],
            "validation_pr_auc": summary["validation_pr_auc"], "test_pr_auc": float(test_pr_auc)}


def run_child(home: str, budget: int, stopping: int, seed: int) -> dict:
    """The child's figures, with its own peak RSS (wait4) and the load average when it ended."""
    env = {**os.environ, "FRAUD_HOME": home}
    command = [sys.executable, __file__, "--child", str(budget), str(stopping), str(seed)]
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"budget {budget}:{stopping} seed {seed} failed; rerun the child by hand: "
                             f"{' '.join(command)}")
        out.seek(0)
        figures = json.loads(out.read().strip().splitlines()[-1])
    return figures | {"peak_gb": usage.ru_maxrss / 1e6, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="FRAUD_HOME holding a training dataset")
    parser.add_argument("--budgets", default="0:0,1000000:0,1000000:250000",
                        help="max_train_rows:max_stopping_rows pairs (0: every row)")
    parser.add_argument("--seeds", default="42", help="sample seeds (the model's seed is 42)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if not args.home:
        raise SystemExit("--home DIR is required: a home kept by `bench_pipeline.py --home DIR --until "
                         "training_dataset`")
    budgets = [tuple(int(v) for v in pair.split(":")) for pair in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    results: dict[tuple[int, int, int], list[dict]] = {}
    for round_ in range(args.repeats):
        for budget, stopping in budgets:
            for seed in seeds if budget or stopping else seeds[:1]:  # every row: the seed draws nothing
                figures = run_child(args.home, budget, stopping, seed)
                results.setdefault((budget, stopping, seed), []).append(figures)
                print(f"round {round_ + 1}: " + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                                            for k, v in figures.items()}), flush=True)
    print(f"\n{'train':>9} {'stopping':>9} {'seed':>5} {'fitted rows':>11} {'fit s':>7} {'CPU s':>7} {'peak GB':>7} "
          f"{'trees':>5} {'val PR-AUC':>10} {'test PR-AUC':>11} {'x CPU of every row':>18}")
    every = [statistics.median(r["fit_cpu_s"] for r in runs) for (b, s, _), runs in results.items() if b == s == 0]
    full_cpu = every[0] if every else None
    for (budget, stopping, seed), runs in results.items():
        median = {k: statistics.median(r[k] for r in runs) for k in ("fit_s", "fit_cpu_s", "validation_pr_auc",
                                                                      "test_pr_auc", "trees", "peak_gb")}
        ratio = f"{median['fit_cpu_s'] / full_cpu:.2f}" if full_cpu else "-"
        print(f"{budget or 'all':>9} {stopping or 'all':>9} {seed:>5} {runs[0]['fitted_rows']:>11,} "
              f"{median['fit_s']:>7.1f} "
              f"{median['fit_cpu_s']:>7.1f} {median['peak_gb']:>7.2f} {median['trees']:>5.0f} "
              f"{median['validation_pr_auc']:>10.4f} {median['test_pr_auc']:>11.4f} {ratio:>18}")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
