"""Benchmark of model quality: test PR-AUC of the previous lifecycle (every feature, default parameters,
no calibration) against feature selection + an Optuna search + calibration, on the same training dataset,
with bootstrap confidence intervals, on the demo's data and on a harder setting with 0.2 % fraud.

Each setting runs in its own child process on a fresh FRAUD_HOME: the real raw and feature assets and
the training dataset (one Dagster run), then both models trained on its train/validation splits and
scored on its test split. Intervals: class-stratified percentile bootstrap of each PR-AUC, and the
paired bootstrap of their difference that promotion uses (`promotion.bootstrap_pr_auc_difference`), and
the promotion rule's decision (`promotion.decide`, its defaults) for two challengers of the previous model
as champion: the quality lifecycle, and the previous lifecycle retrained with another seed (a challenger
that differs only by noise, which the rule must refuse).
Usage: python bench/bench_model_quality.py [--settings demo,hard] [--days 60] [--trials 12] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The demo's generator (5,000 cards, ~10,000 charges a day, 0.5 % fraud) and a harder one with 0.2 % fraud.
SETTINGS = {"demo": {"n_cards": 5_000, "transactions_per_day": 10_000, "fraud_rate": 0.005},
            "hard": {"n_cards": 5_000, "transactions_per_day": 10_000, "fraud_rate": 0.002}}
DATA_ASSETS = ["raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards", "transactions_fg",
               "transactions_4h_aggs", "fraud_labels_fg", "fraud_feature_view", "training_dataset"]


def pr_auc_interval(y, scores, *, resamples: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of average precision over class-stratified bootstrap resamples."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    values = []
    for _ in range(resamples):
        rows = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        values.append(average_precision_score(y[rows], scores[rows]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def child(setting: str, days: int, trials: int, resamples: int) -> dict:
    import dagster as dg
    import numpy as np

    from fraud_pipelines.definitions import defs
    from fraud_pipelines.training import fraud_view
    from fraud_pipelines.training.evaluation import evaluate
    from fraud_pipelines.training.model import TrainingParams, train_model
    from fraud_pipelines.training.promotion import bootstrap_pr_auc_difference, decide
    from fraud_pipelines.training.selection import SelectionPolicy, rank_features
    from fraud_pipelines.training.tuning import TuningBudget, tune

    last = (date(2025, 1, 1) + timedelta(days=days - 1)).isoformat()
    began = time.perf_counter()
    result = defs.resolve_job_def("fraud_pipeline_job").execute_in_process(
        instance=dg.DagsterInstance.get(), asset_selection=[dg.AssetKey(a) for a in DATA_ASSETS],
        run_config={"resources": {"raw_source": {"config": {"seed": 42, "horizon_days": days, **SETTINGS[setting]}}}},
        tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": last})
    assert result.success
    data_seconds = time.perf_counter() - began
    version = result.output_for_node("training_dataset")["version"]
    from fraud_pipelines.resources import StorageResource

    fv = fraud_view.get_or_create(StorageResource().feature_store())
    x_train, x_val, x_test, y_train, y_val, y_test = fv.get_train_validation_test_split(version)
    y_test = np.asarray(y_test).astype(np.int8)

    began = time.perf_counter()
    today = train_model(x_train, y_train, x_val, y_val, TrainingParams(calibration="none"))
    today_seconds = time.perf_counter() - began
    reseeded = train_model(x_train, y_train, x_val, y_val, TrainingParams(calibration="none", seed=43))

    began = time.perf_counter()
    selection = rank_features(x_train, y_train, x_val, y_val, SelectionPolicy())
    features = list(selection.features)
    base = TrainingParams()
    tuned = tune(x_train[features], y_train, x_val[features], y_val, replace(base, calibration="none"),
                 TuningBudget(n_trials=trials, seed=42))
    quality = train_model(x_train[features], y_train, x_val[features], y_val, tuned.apply(base))
    quality_seconds = time.perf_counter() - began

    scores = {"today": today.predict_proba(x_test), "quality": quality.predict_proba(x_test[features]),
              "reseeded": reseeded.predict_proba(x_test)}
    out = {"setting": setting, "test_rows": int(len(y_test)), "test_frauds": int(y_test.sum()),
           "train_rows": int(len(x_train)), "validation_frauds": int(np.asarray(y_val).sum()),
           "data_seconds": round(data_seconds, 1), "today_seconds": round(today_seconds, 1),
           "quality_seconds": round(quality_seconds, 1), "selection": selection.reason(),
           "features": features, "best_params": {k: round(v, 4) for k, v in tuned.best_params.items()},
           "pruned": sum(t.state == "PRUNED" for t in tuned.trials)}
    for name, model in (("today", today), ("quality", quality)):
        evaluation = evaluate(y_test, scores[name], threshold=model.threshold)
        out[name] = {"pr_auc": evaluation.pr_auc, "ci": pr_auc_interval(y_test, scores[name], resamples=resamples),
                     "brier": evaluation.brier, "recall_at_1pct_fpr": evaluation.recall_at_1pct_fpr,
                     "calibration": model.calibrator.kind}
    difference = bootstrap_pr_auc_difference(y_test, scores["quality"], scores["today"], n_resamples=resamples)
    out["difference"] = {"value": difference.difference, "ci": [difference.low, difference.high]}
    champion = [("1", "champion", scores["today"])]
    for name in ("quality", "reseeded"):
        candidate = evaluate(y_test, scores[name], threshold=0.5, name=name)
        decision = decide(candidate, scores[name], y_test, champion, champion_version="1")
        interval = decision.champion_comparison().interval
        out[f"{name}_decision"] = {"promoted": decision.better, "difference": interval.difference,
                                   "ci": [interval.low, interval.high]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="demo,hard")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--trials", type=int, default=12, help="Optuna trials (no time limit: reproducible)")
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.days, args.trials, args.resamples)))
        return
    print(f"test PR-AUC [95 % bootstrap interval], {args.days} days from 2025-01-01, {args.trials} Optuna trials")
    for setting in args.settings.split(","):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster",
                   "FRAUD_START_DATE": "2025-01-01", "MLFLOW_DISABLE_TELEMETRY": "true"}
            Path(env["DAGSTER_HOME"]).mkdir()
            command = [sys.executable, __file__, "--child", setting, "--days", str(args.days), "--trials",
                       str(args.trials), "--resamples", str(args.resamples)]
            done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{setting} failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n== {setting}: {r['train_rows']:,} train rows, {r['validation_frauds']} validation frauds, "
              f"{r['test_rows']:,} test charges with {r['test_frauds']} frauds (data {r['data_seconds']} s)")
        for name, label in (("today", "previous (no sel/tuning/cal)"), ("quality", "selection+tuning+calibration")):
            m = r[name]
            print(f"  {label:<30} PR-AUC {m['pr_auc']:.4f} [{m['ci'][0]:.4f}, {m['ci'][1]:.4f}]  "
                  f"recall@1%FPR {m['recall_at_1pct_fpr']:.3f}  Brier {m['brier']:.5f} ({m['calibration']})  "
                  f"{r[name + '_seconds']} s")
        d = r["difference"]
        print(f"  difference (paired bootstrap)  {d['value']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]")
        for name, label in (("quality", "selection+tuning+calibration"), ("reseeded", "previous, seed 43")):
            p = r[f"{name}_decision"]
            inside = p["ci"][0] <= 0.0 <= p["ci"][1]
            print(f"  promotion rule, {label} over previous as champion: "
                  f"{'PROMOTED' if p['promoted'] else 'refused'}, difference {p['difference']:+.4f} "
                  f"[{p['ci'][0]:+.4f}, {p['ci'][1]:+.4f}] ({'inside' if inside else 'outside'} the noise)"
                  f"{'  <-- promotion inside the noise' if p['promoted'] and inside else ''}")
        print(f"  {r['selection']}; features {r['features']}")
        print(f"  best parameters {r['best_params']} ({r['pruned']} trials pruned)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
