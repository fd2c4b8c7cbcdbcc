"""Benchmark of the training group's model work under a set of budgets: wall and CPU seconds of feature
selection, the Optuna search, the model and the learning curve (the library calls the assets make), on a
training dataset kept by `bench_pipeline.py --home DIR --until training_dataset`.

CPU seconds move less with the machine's load than wall seconds; each budget runs in its own process.
Usage: python bench/bench_training_budgets.py --home DIR [--budgets default,demo]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(budget: str) -> dict:
    from dataclasses import replace

    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.training import config as configs
    from fraud_pipelines.training import curves, fraud_view
    from fraud_pipelines.training.model import TrainingParams, train_model
    from fraud_pipelines.training.selection import rank_features
    from fraud_pipelines.training.tuning import tune

    ops = configs.DEMO_OPS if budget == "demo" else {}
    selection = configs.SelectionConfig(**ops.get("feature_selection", {}).get("config", {}))
    tuning = configs.TuningConfig(**ops.get("model_tuning", {}).get("config", {}))
    shares = configs.CurvesConfig(**ops.get("learning_curve", {}).get("config", {})).shares
    fv = fraud_view.get_or_create(StorageResource().feature_store())
    version = max(fv.training_dataset_versions())
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version)
    figures = {"budget": budget, "train_rows": len(x_train), "validation_rows": len(x_val)}

    def timed(name, work):
        wall, cpu = time.perf_counter(), time.process_time()
        out = work()
        figures[name] = (round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1))
        return out

    ranked = timed("feature_selection", lambda: rank_features(x_train, y_train, x_val, y_val, selection.policy()))
    base = TrainingParams(n_estimators=tuning.n_estimators, early_stopping_rounds=tuning.early_stopping_rounds,
                          seed=tuning.seed, calibration="none")
    tuned = timed("model_tuning", lambda: tune(x_train, y_train, x_val, y_val, base, tuning.budget()))
    params = replace(TrainingParams(), **tuned.best_params)
    model = timed("fraud_model", lambda: train_model(x_train, y_train, x_val, y_val, params))
    timed("learning_curve", lambda: curves.learning_curve(x_train, y_train, x_val, y_val, params, shares=shares))
    figures |= {"trials": [t.rounds for t in tuned.trials], "model_trees": model.best_iteration + 1,
                "validation_pr_auc": round(model.validation_pr_auc, 4), "selection": ranked.reason()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="FRAUD_HOME holding a training dataset")
    parser.add_argument("--budgets", default="default,demo")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    env = {**os.environ, "FRAUD_HOME": args.home, "DAGSTER_HOME": f"{args.home}/dagster",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    print(f"training work on {args.home}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'budget':<8} {'step':<18} {'wall s':>7} {'CPU s':>7}")
    for budget in args.budgets.split(","):
        done = subprocess.run([sys.executable, __file__, "--home", args.home, "--child", budget], env=env,
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{budget} failed:\n{done.stderr[-3000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        for step in ("feature_selection", "model_tuning", "fraud_model", "learning_curve"):
            print(f"{budget:<8} {step:<18} {r[step][0]:>7} {r[step][1]:>7}")
        total = [round(sum(r[s][i] for s in ("feature_selection", "model_tuning", "fraud_model", "learning_curve")),
                       1) for i in (0, 1)]
        print(f"{budget:<8} {'total':<18} {total[0]:>7} {total[1]:>7}   ({r['train_rows']:,} train rows; trial "
              f"rounds {r['trials']}; model {r['model_trees']} trees, validation PR-AUC {r['validation_pr_auc']}; "
              f"{r['selection']})")
        print(f"  load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
