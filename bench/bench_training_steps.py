"""Where time and memory go inside `fraud_model` and `model_evaluation`: the same library calls the assets make,
phase by phase, with wall and CPU seconds and the peak resident memory of each phase (sampled every 20 ms from
/proc/self/status, plus the kernel's high-water mark reset at each phase's start).

Runs on a home kept by `bench_pipeline.py --home DIR --until training_dataset` (its newest training dataset),
each step in its own process so one step's memory does not carry into the next. Nothing is registered; the
model and the evaluation are logged to the home's MLflow store as the assets would.
Usage: python bench/bench_training_steps.py --home DIR [--steps fraud_model,model_evaluation]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(field: str = "VmRSS:") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


class Phases:
    """Times each phase and samples its resident memory in a background thread."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, _rss_mb())

    @contextmanager
    def phase(self, name: str):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self._peak, start_rss = _rss_mb(), _rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.rows.append({"phase": name, "wall": round(time.perf_counter() - wall, 1),
                          "cpu": round(time.process_time() - cpu, 1), "start_mb": round(start_rss),
                          "peak_mb": round(max(self._peak, _rss_mb("VmHWM:")))})


def fraud_model_phases(p: Phases) -> dict:
    from fraud_pipelines.resources import MlflowResource, StorageResource
    from fraud_pipelines.training import fraud_view
    from fraud_pipelines.training.model import TrainingParams, train_model
    from fraud_pipelines.training.registry import Lineage

    fv = fraud_view.get_or_create(StorageResource().feature_store())
    version = max(fv.training_dataset_versions())
    with p.phase("read train + validation"):
        x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version)
    with p.phase("train (fit, calibrate, threshold)"):
        trained = train_model(x_train, y_train, x_val, y_val, TrainingParams())
    record = fv.get_training_dataset(version)
    with p.phase("log to MLflow"):
        logged = MlflowResource().log_training_run(
            trained, input_example=x_train.head(5), transformation_state=record.transformations,
            lineage=Lineage(training_dataset_version=version, feature_view_name=fraud_view.NAME,
                            feature_view_version=fraud_view.VERSION, delta_versions=record.delta_versions),
            run_name=f"bench td{version}")
    Path(os.environ["FRAUD_HOME"], "bench_run_id").write_text(logged.run_id)
    return {"rows": len(x_train), "trees": trained.best_iteration + 1, "run_id": logged.run_id}


def model_evaluation_phases(p: Phases) -> dict:
    import numpy as np

    from fraud_pipelines.resources import MlflowResource, StorageResource
    from fraud_pipelines.training import curves, fraud_view
    from fraud_pipelines.training.assessment import assess_candidate
    from fraud_pipelines.training.plots import save_evaluation_plots
    from fraud_pipelines.training.promotion import PromotionPolicy

    fv = fraud_view.get_or_create(StorageResource().feature_store())
    version = max(fv.training_dataset_versions())
    mlflow = MlflowResource()
    run_id = Path(os.environ["FRAUD_HOME"], "bench_run_id").read_text()
    with p.phase("assess (baseline, scores, promotion)"):
        found = assess_candidate(mlflow, fv, run_id, version, PromotionPolicy())
    with tempfile.TemporaryDirectory() as folder:
        with p.phase("plots"):
            plots = save_evaluation_plots(folder, y_true=found.y_test, scores_by_model=found.scores,
                                          confusion=found.evaluations["model"].confusion, importance=found.importance)
            plots["reliability"] = found.calibration.plot(found.y_test, f"{folder}/reliability.png")
            plots["lift_gain"] = curves.plot_lift_gain(found.evaluations["model"].lift_table(),
                                                       f"{folder}/lift_gain.png")
        with p.phase("log to MLflow"):
            mlflow.log_evaluation(run_id, found.evaluations, plots=plots, metrics=found.calibration.metrics())
    return {"test_rows": int(len(found.y_test)), "pr_auc": round(found.evaluations["model"].pr_auc, 4),
            "frauds": int(np.sum(found.y_test))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--steps", default="fraud_model,model_evaluation")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phases = Phases()
        began = time.perf_counter()
        facts = {"fraud_model": fraud_model_phases, "model_evaluation": model_evaluation_phases}[args.child](phases)
        print(json.dumps({"phases": phases.rows, "facts": facts, "seconds": round(time.perf_counter() - began, 1)}))
        return
    env = {**os.environ, "FRAUD_HOME": args.home, "DAGSTER_HOME": f"{args.home}/dagster",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    for step in args.steps.split(","):
        print(f"{step} on {args.home}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
        done = subprocess.run([sys.executable, __file__, "--home", args.home, "--child", step], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {'phase':<38} {'wall s':>7} {'CPU s':>7} {'RSS at start':>13} {'peak RSS':>9}")
        for row in r["phases"]:
            print(f"  {row['phase']:<38} {row['wall']:>7} {row['cpu']:>7} {row['start_mb']:>10} MB "
                  f"{row['peak_mb']:>6} MB")
        print(f"  total {r['seconds']} s; {r['facts']}; load average "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
