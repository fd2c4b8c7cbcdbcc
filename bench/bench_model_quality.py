"""Benchmark of model quality: test PR-AUC of the previous lifecycle (every feature, default parameters,
no calibration) against feature selection + an Optuna search + calibration, on the same training dataset,
with bootstrap confidence intervals, on the demo's data and on a harder setting with 0.2 % fraud.

Each setting runs in its own child process on a fresh FRAUD_HOME: the real raw and feature assets and
the training dataset (one Dagster run), then both models trained on its train/validation splits and
scored on its test split. Intervals: class-stratified percentile bootstrap of each PR-AUC, and the
paired bootstrap of their difference that promotion uses (`promotion.bootstrap_pr_auc_difference`), and
the promotion rule's decision (`promotion.decide`, its defaults) for two challengers of the previous model
as champion: the quality lifecycle, and the previous lifecycle retrained with another seed (a challenger
that differs only by noise, which the rule must refuse). `--ablation` instead trains each quality step alone
(calibration, selection, the search with and without the defaults as trial 0) against the previous model on the
same data and seeds; `--home DIR` keeps each setting's data in DIR/<setting> and reuses it on the next run.
Usage: python bench/bench_model_quality.py [--settings demo,hard] [--days 60] [--trials 12] [--resamples 1000]
       [--ablation] [--home DIR]
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


def data(setting: str, days: int) -> tuple:
    """The setting's training dataset (made by the real assets, or the one a kept home already holds): its six
    frames with int8 test labels, and the seconds it took."""
    import dagster as dg
    import numpy as np

    from fraud_pipelines.definitions import defs
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.training import fraud_view

    last = (date(2025, 1, 1) + timedelta(days=days - 1)).isoformat()
    began = time.perf_counter()
    kept = Path(os.environ["FRAUD_HOME"]) / "bench_model_quality.json"
    if kept.exists() and json.loads(kept.read_text())["data"] == [setting, days]:  # a kept home: same data
        version = json.loads(kept.read_text())["version"]
    else:
        result = defs.resolve_job_def("fraud_pipeline_job").execute_in_process(
            instance=dg.DagsterInstance.get(), asset_selection=[dg.AssetKey(a) for a in DATA_ASSETS],
            run_config={"resources": {"raw_source": {"config": {"seed": 42, "horizon_days": days,
                                                                **SETTINGS[setting]}}}},
            tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": last})
        assert result.success
        version = result.output_for_node("training_dataset")["version"]
        kept.write_text(json.dumps({"data": [setting, days], "version": version}))
    data_seconds = time.perf_counter() - began
    fv = fraud_view.get_or_create(StorageResource().feature_store())
    x_train, x_val, x_test, y_train, y_val, y_test = fv.get_train_validation_test_split(version)
    return x_train, x_val, x_test, y_train, y_val, np.asarray(y_test).astype(np.int8), data_seconds


def child(setting: str, days: int, trials: int, resamples: int) -> dict:
    import numpy as np

    from fraud_pipelines.training.config import TuningConfig
    from fraud_pipelines.training.evaluation import evaluate
    from fraud_pipelines.training.model import TrainingParams, train_model
    from fraud_pipelines.training.promotion import bootstrap_pr_auc_difference, decide
    from fraud_pipelines.training.selection import SelectionPolicy, rank_features
    from fraud_pipelines.training.tuning import tune

    x_train, x_val, x_test, y_train, y_val, y_test, data_seconds = data(setting, days)

    began = time.perf_counter()
    today = train_model(x_train, y_train, x_val, y_val, TrainingParams(calibration="none"))
    today_seconds = time.perf_counter() - began
    reseeded = train_model(x_train, y_train, x_val, y_val, TrainingParams(calibration="none", seed=43))

    began = time.perf_counter()
    selection = rank_features(x_train, y_train, x_val, y_val, SelectionPolicy())
    features = list(selection.features)
    base = TrainingParams()
    tuned = tune(x_train[features], y_train, x_val[features], y_val, replace(base, calibration="none"),
                 TuningConfig(n_trials=trials).budget())
    quality = train_model(x_train[features], y_train, x_val[features], y_val, tuned.apply(base))
    quality_seconds = time.perf_counter() - began

    scores = {"today": today.predict_proba(x_test), "quality": quality.predict_proba(x_test[features]),
              "reseeded": reseeded.predict_proba(x_test)}
    out = {"setting": setting, "test_rows": int(len(y_test)), "test_frauds": int(y_test.sum()),
           "train_rows": int(len(x_train)), "validation_frauds": int(np.asarray(y_val).sum()),
           "data_seconds": round(data_seconds, 1), "today_seconds": round(today_seconds, 1),
           "quality_seconds": round(quality_seconds, 1), "selection": selection.reason(),
           "features": features, "best_params": {k: round(v, 4) for k, v in tuned.best_params.items()},
           "pruned": sum(t.state == "PRUNED" for t in tuned.trials), "tuning": tuned.describe(),
           "trials": [t.validation_pr_auc for t in tuned.trials]}
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


def ablation(setting: str, days: int, trials: int, resamples: int) -> dict:
    """Each quality step alone and all together against the previous lifecycle, on the same data and seeds: test
    PR-AUC [interval], the paired difference with the previous model [interval], validation PR-AUC, and for the
    calibrated models the PR-AUC of the trees' raw score (a calibration that ties charges would lower it)."""
    from dataclasses import replace

    import numpy as np
    from sklearn.metrics import average_precision_score

    from fraud_pipelines.training.config import TuningConfig
    from fraud_pipelines.training.model import TrainingParams, train_model
    from fraud_pipelines.training.promotion import bootstrap_pr_auc_difference
    from fraud_pipelines.training.selection import SelectionPolicy, rank_features
    from fraud_pipelines.training.tuning import tune

    x_train, x_val, x_test, y_train, y_val, y_test, _ = data(setting, days)
    everything = list(x_train.columns)
    selection = rank_features(x_train, y_train, x_val, y_val, SelectionPolicy())
    selected = list(selection.features)
    base = TrainingParams()
    searches = {}  # (features, the base parameters as trial 0) -> the search
    for features in {tuple(everything), tuple(selected)}:
        for from_base in (False, True):
            cols = list(features)
            searches[features, from_base] = tune(
                x_train[cols], y_train, x_val[cols], y_val, replace(base, calibration="none"),
                replace(TuningConfig(n_trials=trials).budget(), start_from_base=from_base))
    variants = {  # name: (features, search (None: base parameters), calibration)
        "previous": (everything, None, "none"), "+calibration": (everything, None, "auto"),
        "+selection": (selected, None, "none"), "+tuning, sampled trials only": (everything, False, "none"),
        "+tuning, base as trial 0": (everything, True, "none"), "all three": (selected, True, "auto")}
    out = {"setting": setting, "test_rows": int(len(y_test)), "test_frauds": int(y_test.sum()),
           "validation_frauds": int(np.asarray(y_val).sum()), "selection": selection.reason(),
           "searches": {f"{len(k[0])} features, {'base as trial 0' if k[1] else 'sampled only'}": {
               "best": v.best_params, "trials": [t.validation_pr_auc for t in v.trials]}
               for k, v in searches.items()}, "variants": {}}
    previous = None
    for name, (features, from_base, calibration) in variants.items():  # from_base: which search, None: none
        params = replace(base, calibration=calibration)
        if from_base is not None:
            params = searches[tuple(features), from_base].apply(params)
        model = train_model(x_train[features], y_train, x_val[features], y_val, params)
        scores, raw = model.predict_proba(x_test[features]), model.raw_proba(x_test[features])
        previous = scores if previous is None else previous
        difference = bootstrap_pr_auc_difference(y_test, scores, previous, n_resamples=resamples)
        out["variants"][name] = {
            "pr_auc": float(average_precision_score(y_test, scores)), "raw_pr_auc": float(
                average_precision_score(y_test, raw)), "ci": pr_auc_interval(y_test, scores, resamples=resamples),
            "difference": [difference.difference, difference.low, difference.high],
            "validation_pr_auc": model.validation_pr_auc, "calibration": model.calibrator.kind,
            "brier_raw": float(np.mean((raw - y_test) ** 2)), "brier": float(np.mean((scores - y_test) ** 2)),
            "trees": model.best_iteration + 1,
            "distinct_scores": [int(len(np.unique(raw))), int(len(np.unique(scores)))]}
    return out


def print_ablation(r: dict) -> None:
    print(f"\n== ablation, {r['setting']}: {r['test_rows']:,} test charges with {r['test_frauds']} frauds, "
          f"{r['validation_frauds']} validation frauds; {r['selection']}")
    for features, search in r["searches"].items():
        trials = ", ".join("pruned" if v is None else f"{v:.4f}" for v in search["trials"])
        print(f"  search on {features}: validation PR-AUC of the trials {trials}; best "
              f"{ {k: round(v, 3) for k, v in search['best'].items()} }")
    for name, v in r["variants"].items():
        d = v["difference"]
        print(f"  {name:<29} test PR-AUC {v['pr_auc']:.4f} [{v['ci'][0]:.4f}, {v['ci'][1]:.4f}] (raw score "
              f"{v['raw_pr_auc']:.4f}, {v['calibration']}), vs previous {d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}]; "
              f"validation {v['validation_pr_auc']:.4f}; Brier {v['brier_raw']:.5f} -> {v['brier']:.5f}; "
              f"{v['trees']} trees; distinct scores {v['distinct_scores'][0]:,} raw, {v['distinct_scores'][1]:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="demo,hard")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--trials", type=int, default=12, help="Optuna trials (no time limit: reproducible)")
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--home", help="keep each setting's data in DIR/<setting> and reuse it when there")
    parser.add_argument("--ablation", action="store_true", help="each quality step alone against the previous model")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = ablation if args.ablation else child
        print(json.dumps(run(args.child, args.days, args.trials, args.resamples)))
        return
    print(f"test PR-AUC [95 % bootstrap interval], {args.days} days from 2025-01-01, {args.trials} Optuna trials")
    for setting in args.settings.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            home = f"{args.home}/{setting}" if args.home else scratch
            env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster",
                   "FRAUD_START_DATE": "2025-01-01", "MLFLOW_DISABLE_TELEMETRY": "true"}
            Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
            command = [sys.executable, __file__, "--child", setting, "--days", str(args.days), "--trials",
                       str(args.trials), "--resamples", str(args.resamples)] + (["--ablation"] * args.ablation)
            done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{setting} failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
        if args.ablation:
            print_ablation(r)
            continue
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
        trials = ", ".join("pruned" if v is None else f"{v:.4f}" for v in r["trials"])
        print(f"  search: validation PR-AUC of the trials {trials} ({r['pruned']} pruned); {r['tuning']}")
        print(f"  parameters used {r['best_params']}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
