"""Model lifecycle assets: feature view → training dataset → XGBoost → evaluation → registry.

Each asset is thin: it reads its inputs, calls the feature store or the model library
(`model.py`, `baseline.py`, `evaluation.py`, `registry.py`) and reports metadata. Values passed
between assets are small dicts (versions, run ids, metrics), stored as JSON on each materialization
(`values.py`) so a run of one asset loads its inputs from earlier runs; the data stays in the
feature store and the model in MLflow.
"""

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from fraud_pipelines.features import groups, label_time
from fraud_pipelines.governance.compute import measured
from fraud_pipelines.metadata import frame_table
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.training import curves, fraud_view, sampling
from fraud_pipelines.training.assessment import assess_candidate
from fraud_pipelines.training.config import CurvesConfig, SelectionConfig, TuningConfig
from fraud_pipelines.training.model import (
    DEFAULT_MAX_STOPPING_ROWS,
    DEFAULT_MAX_TRAIN_ROWS,
    TrainingParams,
    finish_model,
    train_model,
)
from fraud_pipelines.training.plots import markdown_image, save_evaluation_plots
from fraud_pipelines.training.promotion import PromotionDecision, PromotionPolicy
from fraud_pipelines.training.registry import Lineage
from fraud_pipelines.training.selection import rank_features
from fraud_pipelines.training.side_runs import SearchRuns, log_selection
from fraud_pipelines.training.splits import (
    MIN_POSITIVES,
    SplitError,
    check_positives,
    configured_ranges,
    ranges_with_positives,
)
from fraud_pipelines.training.trial_trees import load_trial_trees, save_trial_trees, trial_key
from fraud_pipelines.training.values import TRAINING_VALUES

GROUP = "training"


class TrainingDatasetConfig(dg.Config):
    """Split boundaries (ISO dates, UTC); leave all empty to derive them from the labels present."""

    train_start: str = Field(default="", description="First day of training data, e.g. 2025-01-01.")
    train_end: str = Field(default="", description="End of training = start of validation (exclusive).")
    validation_end: str = Field(default="", description="End of validation = start of test (exclusive).")
    test_end: str = Field(default="", description="End of the test split (exclusive).")
    labels_known_at: str = Field(default="", description=(
        "Cut the data at this time (ISO, UTC; default now): only labels with label_time at or before it are "
        "used; derived splits end before the first day still waiting for a label, configured ones are refused "
        "if they hold a label known later."))
    test_share: float = Field(default=0.2, description="Share of days for test when derived.")
    validation_share: float = Field(default=0.1, description="Share of days for validation when derived.")
    min_positives: int = Field(default=MIN_POSITIVES, ge=1, description=(
        "Frauds validation and test must each hold: derived boundaries move earlier until they do; "
        "configured ones are checked. Too few fails before training."))
    materialize: bool = Field(default=True, description=(
        "Store the splits' joined rows with the version (read back by every training step) rather than re-run the "
        "point-in-time join in each: a copy on disk about the size of the feature groups' columns it holds."))


class ModelConfig(dg.Config):
    """XGBoost settings; `drop_features` trains on fewer features (e.g. to compare)."""

    n_estimators: int = 1_000
    learning_rate: float = 0.05
    max_depth: int = 6
    early_stopping_rounds: int = 50
    seed: int = 42
    imbalance_power: float = Field(default=1.0, ge=0, description=(
        "The frauds' class weight is (genuine / fraud charges of the train split) ** imbalance_power: 1 makes both "
        "classes count equally in the loss, 0.5 the square root, 0 no weight. model_tuning searches it in [0, 1]."))
    drop_features: list[str] = Field(default_factory=list, description=(
        "Features left out besides those feature_selection dropped (names it already dropped are ignored)."))
    calibration: Literal["auto", "platt", "isotonic", "none"] = Field(default="auto", description=(
        "Probability calibration fitted on validation: auto picks the lowest out-of-fold Brier score."))
    use_selected_features: bool = Field(default=False, description=(
        "Train on the features feature_selection kept (all of them when it adopted no subset). Off by default: "
        "the served feature set changes only when asked."))
    use_tuned_params: bool = Field(default=True, description=(
        "Use model_tuning's best parameters (learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, "
        "reg_lambda, imbalance_power, max_delta_step, gamma) instead of this config's, when the search ran."))
    threshold_rule: Literal["max_f1", "target_precision", "max_recall_at_fpr", "min_cost"] = Field(
        default="max_f1", description=(
            "How the alert threshold is chosen on the calibrated validation probabilities: max_f1; target_precision "
            "(lowest score reaching target_precision); max_recall_at_fpr (most frauds with at most max_fpr of genuine "
            "charges flagged); min_cost (least cost_false_positive x false alerts + cost_false_negative x missed)."))
    target_precision: float = Field(default=0.5, gt=0, le=1)
    max_fpr: float = Field(default=0.01, ge=0, lt=1)
    cost_false_positive: float = Field(default=1.0, ge=0, description="Cost of reviewing a genuine charge's alert.")
    cost_false_negative: float = Field(default=100.0, ge=0, description="Cost of a missed fraud.")
    max_train_rows: int = Field(default=DEFAULT_MAX_TRAIN_ROWS, ge=0, description=(
        "A train split with more rows is fitted on every fraud and a seeded sample of the genuine charges, each "
        "weighted by how many it stands for (0: every row). Validation and test are never sampled. Keep it equal to "
        "model_tuning's so the search's trees can be reused."))
    max_stopping_rows: int = Field(default=DEFAULT_MAX_STOPPING_ROWS, ge=0, description=(
        "Early stopping reads its PR-AUC each round on every fraud of validation and a weighted sample of its genuine "
        "charges beyond this many rows (0: every row); the reported PR-AUC, calibration and threshold use them all."))


class PromotionConfig(dg.Config):
    """The promotion rule: a paired bootstrap of the PR-AUC difference on the test rows must clear 0."""

    confidence: float = Field(default=0.95, description="Two-sided confidence of the interval.")
    n_resamples: int = Field(default=1_000, ge=100, description="Paired, class-stratified bootstrap resamples.")
    seed: int = Field(default=0, description="Seed of the resampling (same seed, same interval).")
    n_previous: int = Field(default=3, ge=0, description="Earlier registered versions compared besides the champion.")
    beat_previous: bool = Field(default=True, description=(
        "The challenger must also clear 0 against those versions; False: only the champion decides."))


@dg.asset(group_name=GROUP, kinds={"python"}, deps=["fraud_labels_fg", "transactions_fg", "transactions_4h_aggs"],
          description="The feature view cc_trans_fraud v1: labels joined point-in-time with the charge's features.")
def fraud_feature_view(storage: StorageResource) -> dg.MaterializeResult:
    fv = fraud_view.get_or_create(fraud_view.training_store(storage))
    rows = [f"| `{name}` | {source} | {fraud_view.TRANSFORMATIONS.get(name, '-')} |"
            for name, source in fraud_view.sources().items()]
    table = "| feature | feature group | transformation |\n| --- | --- | --- |\n" + "\n".join(rows)
    return dg.MaterializeResult(metadata={
        "feature_view": f"{fraud_view.NAME} v{fraud_view.VERSION}",
        "label": fraud_view.LABEL,
        "spine": f"{groups.FRAUD_LABELS.name} v{groups.FRAUD_LABELS.version}",
        "features": dg.MetadataValue.md(table),
        "feature_count": len(fv.feature_names()),
    })


@dg.asset(io_manager_def=TRAINING_VALUES, pool="training_dataset", group_name=GROUP, kinds={"delta", "duckdb"},
          deps=[fraud_feature_view],
          description="A temporal train/validation/test split of the feature view, recorded as a training "
                      "dataset version.")
def training_dataset(context: dg.AssetExecutionContext, config: TrainingDatasetConfig,
                     storage: StorageResource) -> dict[str, Any]:
    fs = fraud_view.training_store(storage)
    fv = fraud_view.get_or_create(fs)
    labels = groups.FRAUD_LABELS.get_or_create(fs).read(columns=["datetime", "is_fraud", label_time.LABEL_TIME])
    everything = labels  # the spine's rows, before the cut below keeps only days whose labels are all known
    known_at = label_time.as_utc(config.labels_known_at or label_time.now())
    if config.train_start:
        ranges = configured_ranges(config.train_start, config.train_end, config.validation_end, config.test_end)
        late = label_time.unknown_at(labels, ranges.train_start, ranges.test_end, known_at)
        if late:
            raise SplitError(f"training data cut at {known_at:%Y-%m-%d %H:%M} UTC: {late}")
        check_positives(ranges, labels["datetime"], labels["is_fraud"], min_positives=config.min_positives)
    else:  # only days whose labels are all known at the cut
        known = label_time.known_days(label_time.last_label_times(labels), known_at)
        if not known:
            raise SplitError(f"training data cut at {known_at:%Y-%m-%d %H:%M} UTC: no day's labels are all known "
                             "by then (label_time); cut later (`labels_known_at`) or wait for the labels")
        labels = labels[pd.to_datetime(labels["datetime"], utc=True).dt.date.isin(known)]
        ranges = ranges_with_positives(labels["datetime"], labels["is_fraud"], test_share=config.test_share,
                                       validation_share=config.validation_share, min_positives=config.min_positives)
    version = fv.create_train_validation_test_split(**ranges.as_kwargs(), materialize=config.materialize,
                                                    description=f"splits {ranges.describe()}")
    record = fv.get_training_dataset(version)
    rates = split_fraud_rates(fv, version, everything, record)
    # The store refuses a join that leaked (FeatureStoreError, nothing recorded), so a recorded
    # version's audit is <= 0 by construction; the metadata shows the measured margins.
    audit_ok = all((v is None or v <= 0) for split in record.leakage_audit.values() for v in split.values())
    context.add_output_metadata({
        "training_dataset_version": version,
        "splits": dg.MetadataValue.json(ranges.describe()),
        "row_counts": dg.MetadataValue.json(record.row_counts),
        "fraud_rate": dg.MetadataValue.json(rates),
        "leakage_audit_seconds": dg.MetadataValue.json(record.leakage_audit),
        "leakage_free": audit_ok,
        "delta_versions": dg.MetadataValue.json(record.delta_versions),
        "materialized": bool(record.frozen),
        "dagster/row_count": sum(record.row_counts.values()),
    })
    return {"version": version, "delta_versions": dict(record.delta_versions)}


def split_fraud_rates(fv: Any, version: int, labels: pd.DataFrame, record: Any) -> dict[str, float]:
    """Each split's fraud rate from the spine's labels already read (the splits are its rows by event time), checked
    against the recorded row counts; a split whose count differs (labels written meanwhile) is read from the store."""
    times = pd.to_datetime(labels["datetime"], utc=True)
    rates = {}
    for name, window in record.splits.items():
        rows = pd.Series(True, index=labels.index)
        if window.start is not None:
            rows &= times >= pd.Timestamp(window.start)
        if window.end is not None:
            rows &= times < pd.Timestamp(window.end)
        inside = labels["is_fraud"][rows]
        if len(inside) == record.row_counts[name]:
            rates[name] = round(float(inside.mean()), 5)
        else:  # one split in memory at a time; only its labels kept
            [(x, y)] = fraud_view.read_splits(fv, version, (name,))
            del x
            rates[name] = round(float(y.mean()), 5)
    return rates


@dg.asset(io_manager_def=TRAINING_VALUES, group_name=GROUP, kinds={"xgboost", "mlflow"},
          description="Ranks the view's features on train + validation only (permutation importance on validation "
                      "PR-AUC, gain, low variance, redundancy); a subset better on validation becomes a new feature "
                      "view version with its training dataset.")
def feature_selection(context: dg.AssetExecutionContext, config: SelectionConfig, training_dataset: dict[str, Any],
                      storage: StorageResource, mlflow: MlflowResource) -> dict[str, Any]:
    fs = fraud_view.training_store(storage)
    fv = fraud_view.get_or_create(fs)
    version = training_dataset["version"]
    out = {"training_dataset_version": version, "features": fv.feature_names(), "adopted": False,
           "feature_view_version": fraud_view.VERSION, "selected_training_dataset_version": None}
    if not config.enabled:
        context.add_output_metadata({"enabled": False, "features": dg.MetadataValue.json(out["features"])})
        return out
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version, event_time=True)
    times = [c for c in fv.feature_names(event_time=True) if c not in fv.feature_names()]
    latest = max(max(x_train[c].max(), x_val[c].max()) for c in times)
    features = [c for c in x_train.columns if c not in times]
    policy = config.policy()
    # the event times dropped in place: a copy of the rows kept costs ~0.6 GB on 7M rows
    x_train, x_val = fraud_view.keep_columns(x_train, features), fraud_view.keep_columns(x_val, features)
    result = rank_features(x_train, y_train, x_val, y_val, policy)
    del x_train, x_val
    if result.adopted:
        view = fraud_view.get_or_create_selected(fs, result.selected)
        record = fv.get_training_dataset(version)
        selected_td = view.create_train_validation_test_split(
            **{f"{name}_{end}": getattr(record.splits[name], end) for name in ("train", "validation", "test")
               for end in ("start", "end")},
            description=f"{fv.name} v{fv.version} td{version} on the selected features",
            materialize=bool(record.frozen))  # stored as the version it narrows
        out |= {"features": list(result.selected), "adopted": True, "feature_view_version": view.version,
                "selected_training_dataset_version": selected_td}
    view_name = f"{fraud_view.NAME} v{out['feature_view_version']}"
    run_id = log_selection(mlflow, result, policy, training_dataset_version=version, feature_view=view_name)
    context.add_output_metadata({
        "ranking": dg.MetadataValue.md(result.markdown()),
        "decision": result.reason(),
        "feature_view": view_name,
        "selected_training_dataset_version": out["selected_training_dataset_version"],
        "features": dg.MetadataValue.json(out["features"]),
        "rows_read": dg.MetadataValue.json(result.rows),
        "latest_event_time_read": str(latest),
        "test_split_start": str(fv.get_training_dataset(version).splits["test"].start),
        "mlflow_run": dg.MetadataValue.url(mlflow.ui_url(run_id)),
    })
    return out | {"mlflow_run_id": run_id}


@dg.asset(io_manager_def=TRAINING_VALUES, group_name=GROUP, kinds={"optuna", "mlflow"},
          description="Optuna search of the XGBoost parameters on train + validation, pruned on validation PR-AUC; "
                      "each trial a nested MLflow run; fraud_model trains with the best.")
def model_tuning(context: dg.AssetExecutionContext, config: TuningConfig, feature_selection: dict[str, Any],
                 storage: StorageResource, mlflow: MlflowResource) -> dict[str, Any]:
    from fraud_pipelines.training.tuning import tune

    budget = config.budget()
    if not budget.enabled:
        context.add_output_metadata({"enabled": False})
        return {"params": {}, "enabled": False}
    fv = fraud_view.get_or_create(fraud_view.training_store(storage))
    version = feature_selection["training_dataset_version"]
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version)
    features = feature_selection["features"]
    # the other columns dropped in place: a copy of the rows kept costs ~0.6 GB on 7M rows
    x_train, x_val = fraud_view.keep_columns(x_train, features), fraud_view.keep_columns(x_val, features)
    base = TrainingParams(n_estimators=config.n_estimators, early_stopping_rounds=config.early_stopping_rounds,
                          seed=config.seed, calibration="none", max_train_rows=config.max_train_rows,
                          max_stopping_rows=config.max_stopping_rows)
    runs = SearchRuns(mlflow, training_dataset_version=version, budget=budget, base_params=base.to_dict())
    try:
        result = tune(x_train, y_train, x_val, y_val, base, budget, on_trial=runs.trial)
        if result.chosen_model is not None:  # fraud_model loads these trees when it would fit the same ones
            chosen_params, classifier = result.chosen_model
            save_trial_trees(mlflow.client(), runs.run_id, result.chosen_trial, classifier,
                             key=trial_key(version, features, chosen_params), y_train=y_train,
                             input_example=x_train.head(5))
    except BaseException as error:
        runs.finish(None, error)
        raise
    runs.finish(result)
    labels = np.asarray(y_train)
    trials = pd.DataFrame([{"trial": t.number, "state": t.state, "validation_pr_auc": t.validation_pr_auc,
                            "rounds": t.rounds, **t.params} for t in result.trials]).round(4)
    context.add_output_metadata({
        "best_params": dg.MetadataValue.json(result.best_params),
        "best_validation_pr_auc": result.best_validation_pr_auc,
        "base_validation_pr_auc": result.base_validation_pr_auc,
        "base_is_best": result.base_is_best,
        "decision": result.describe(),
        "trials": frame_table(trials),
        "n_pruned": int((trials["state"] == "PRUNED").sum()),
        "fitted_on": sampling.describe(len(labels), int(labels.sum()),
                                       sampling.weighted_sample(labels, base.max_train_rows, base.seed).n_rows),
        "mlflow_run": dg.MetadataValue.url(mlflow.ui_url(runs.run_id)),
    })
    # no trial beat the defaults beyond the noise: fraud_model keeps its own config (which may differ from them)
    params = {} if result.base_is_best else result.best_params
    return {"params": params, "enabled": True, "best_validation_pr_auc": result.best_validation_pr_auc,
            "kept_base": result.base_is_best, "decision": result.describe(), "mlflow_run_id": runs.run_id}


@dg.asset(io_manager_def=TRAINING_VALUES, group_name=GROUP, kinds={"xgboost", "mlflow"},
          description="XGBoost trained on the training dataset (selected features, tuned parameters), early-stopped "
                      "on validation, logged to MLflow.")
def fraud_model(context: dg.AssetExecutionContext, config: ModelConfig, training_dataset: dict[str, Any],
                feature_selection: dict[str, Any], model_tuning: dict[str, Any],
                storage: StorageResource, mlflow: MlflowResource) -> dict[str, Any]:
    fv = fraud_view.get_or_create(fraud_view.training_store(storage))
    version = training_dataset["version"]
    # the view's feature names are its X columns (as feature_selection's and model_tuning's), known before any read
    features = list(feature_selection["features"]) if config.use_selected_features else fv.feature_names()
    features = [f for f in features if f not in set(config.drop_features)]
    params = TrainingParams(n_estimators=config.n_estimators, learning_rate=config.learning_rate,
                            max_depth=config.max_depth, early_stopping_rounds=config.early_stopping_rounds,
                            imbalance_power=config.imbalance_power,
                            seed=config.seed, calibration=config.calibration, threshold_rule=config.threshold_rule,
                            target_precision=config.target_precision, max_fpr=config.max_fpr,
                            cost_false_positive=config.cost_false_positive,
                            cost_false_negative=config.cost_false_negative, max_train_rows=config.max_train_rows,
                            max_stopping_rows=config.max_stopping_rows)
    tuned = model_tuning.get("params") or {}
    if config.use_tuned_params and tuned:
        params = replace(params, **tuned)
    # the search's chosen trial fitted these very trees when it ran these parameters on these rows: loaded
    kept, trees = load_trial_trees(mlflow.client(), model_tuning.get("mlflow_run_id"),
                                   trial_key(version, features, params))
    with measured() as cost:
        if kept is None:  # the test split is not read
            x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, version)
            x_train, x_val = fraud_view.keep_columns(x_train, features), fraud_view.keep_columns(x_val, features)
            trained = train_model(x_train, y_train, x_val, y_val, params)
            example = x_train.head(5)
            del x_train, y_train
        else:  # nor the train split: validation alone fits the calibration and the threshold
            [(x_val, y_val)] = fraud_view.read_splits(fv, version, ("validation",))
            trained = finish_model(kept.classifier, fraud_view.keep_columns(x_val, features), y_val, params,
                                   scale_pos_weight=kept.scale_pos_weight, n_train_rows=kept.n_train_rows,
                                   n_train_positives=kept.n_train_positives, n_fitted_rows=kept.n_fitted_rows)
            example = kept.input_example
    record = fv.get_training_dataset(version)
    logged = mlflow.log_training_run(
        trained,
        input_example=example,
        transformation_state=record.transformations,
        lineage=Lineage(training_dataset_version=version, feature_view_name=fraud_view.NAME,
                        feature_view_version=fraud_view.VERSION, delta_versions=record.delta_versions),
        run_name=f"xgboost td{version}",
    )
    mlflow.client().set_tag(logged.run_id, "selected_feature_view_version",
                            str(feature_selection["feature_view_version"]))
    if config.use_tuned_params and model_tuning.get("mlflow_run_id"):  # also when the search kept the config
        mlflow.client().set_tag(logged.run_id, "tuning_run_id", model_tuning["mlflow_run_id"])
    mlflow.client().set_tag(logged.run_id, "trees", trees)
    summary = trained.summary()
    context.add_output_metadata({
        "mlflow_run_id": logged.run_id,
        "mlflow_run": dg.MetadataValue.url(mlflow.ui_url(logged.run_id)),
        "mlflow_runs": dg.MetadataValue.url(mlflow.ui_url()),
        "training_dataset_version": version,
        "features": dg.MetadataValue.json(list(trained.feature_names)),
        "params": dg.MetadataValue.json(params.to_dict()),
        "tuned": bool(config.use_tuned_params and tuned),
        "trees": trees,
        "fitted_on": sampling.describe(summary["n_train_rows"], summary["n_train_positives"], summary["n_fitted_rows"]),
        **{k: dg.MetadataValue.float(float(v)) for k, v in summary.items()},
        **cost.metadata("training"),
    })
    for name, value in cost.metadata("training").items():
        mlflow.client().log_metric(logged.run_id, name, float(value))
    return {"run_id": logged.run_id, "training_dataset_version": version, "feature_names": list(trained.feature_names),
            "params": params.to_dict()}


@dg.asset(io_manager_def=TRAINING_VALUES, group_name=GROUP, kinds={"xgboost", "mlflow"},
          description="The model's learning curve (validation PR-AUC against training rows), stored with its "
                      "MLflow run.")
def learning_curve(context: dg.AssetExecutionContext, config: CurvesConfig, fraud_model: dict[str, Any],
                   storage: StorageResource, mlflow: MlflowResource) -> dict[str, Any]:
    if not config.shares:
        context.add_output_metadata({"enabled": False})
        return {"enabled": False}
    fv = fraud_view.get_or_create(fraud_view.training_store(storage))
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fv, fraud_model["training_dataset_version"])
    features, run_id = fraud_model["feature_names"], fraud_model["run_id"]
    x_train, x_val = fraud_view.keep_columns(x_train, features), fraud_view.keep_columns(x_val, features)
    full_pr_auc = mlflow.client().get_run(run_id).data.metrics.get("validation_pr_auc", float("nan"))
    curve = curves.learning_curve(x_train, y_train, x_val, y_val,
                                  TrainingParams(**fraud_model["params"]), shares=config.shares, seed=config.seed,
                                  full=(float("nan"), full_pr_auc))
    with tempfile.TemporaryDirectory(prefix="curves_") as folder:
        path = curves.plot_learning_curve(curve, f"{folder}/learning_curve.png")
        client = mlflow.client()
        client.log_artifact(run_id, str(path), artifact_path="plots")
        client.log_dict(run_id, curve.to_dict(orient="records"), "curves/learning_curve.json")
        image = markdown_image(path)
    context.add_output_metadata({
        "learning_curve": frame_table(curve.round(4)),
        "plot_learning_curve": dg.MetadataValue.md(image),
        "plot": dg.MetadataValue.md(f"![learning curve]({mlflow.artifact_url(run_id, 'plots/learning_curve.png')})"),
    })
    return {"enabled": True, "curve": curve.to_dict(orient="records")}


@dg.asset(io_manager_def=TRAINING_VALUES, group_name=GROUP, kinds={"mlflow"},
          description="The model, a logistic-regression baseline and the current champion, scored on the same "
                      "test split.")
def model_evaluation(context: dg.AssetExecutionContext, config: PromotionConfig, fraud_model: dict[str, Any],
                     storage: StorageResource, mlflow: MlflowResource) -> dict[str, Any]:
    policy = PromotionPolicy(confidence=config.confidence, n_resamples=config.n_resamples, seed=config.seed,
                             n_previous=config.n_previous, beat_previous=config.beat_previous)
    fv = fraud_view.get_or_create(fraud_view.training_store(storage))
    found = assess_candidate(mlflow, fv, fraud_model["run_id"], fraud_model["training_dataset_version"], policy)
    evaluations, versus_baseline, promotion = found.evaluations, found.versus_baseline, found.promotion
    calibration, champion_version = found.calibration, found.champion_version
    with tempfile.TemporaryDirectory(prefix="evaluation_") as folder:
        plots = save_evaluation_plots(folder, y_true=found.y_test, scores_by_model=found.scores,
                                      confusion=evaluations["model"].confusion, importance=found.importance,
                                      evaluations=evaluations)
        plots["reliability"] = calibration.plot(found.y_test, f"{folder}/reliability.png")
        plots["lift_gain"] = curves.plot_lift_gain(evaluations["model"].lift_table(), f"{folder}/lift_gain.png")
        mlflow.log_evaluation(fraud_model["run_id"], evaluations, plots=plots, metrics=calibration.metrics())
        images = {f"plot_{name}": dg.MetadataValue.md(markdown_image(path)) for name, path in plots.items()}
    run_id = fraud_model["run_id"]
    metrics = pd.DataFrame({name: e.metrics() for name, e in evaluations.items()}).round(4)
    context.add_output_metadata({
        # Short Markdown is rendered inline: the plots as images served by the MLflow UI (`mlflow ui`);
        # the plot_* entries carry the same images inside the metadata, for when it is not running.
        "plots": dg.MetadataValue.md("\n".join(
            f"![{name}]({mlflow.artifact_url(run_id, f'plots/{Path(path).name}')})" for name, path in plots.items())),
        "mlflow_run": dg.MetadataValue.url(mlflow.ui_url(run_id)),
        "metrics": frame_table(metrics.reset_index(names="metric")),
        "pr_auc": evaluations["model"].pr_auc,
        "baseline_pr_auc": evaluations["baseline"].pr_auc,
        "champion_pr_auc": evaluations["champion"].pr_auc if "champion" in evaluations else None,
        "versus_baseline": versus_baseline.reason,
        "versus_champion": promotion.reason,
        "calibration": calibration.describe(),
        "promotion": dg.MetadataValue.md(promotion.table()),
        "lift": frame_table(evaluations["model"].lift_table().round(3)),
        **images,
    })
    return {
        **fraud_model,
        "evaluations": {name: e.to_dict() for name, e in evaluations.items()},
        "beats_baseline": versus_baseline.better,
        "baseline_reason": versus_baseline.reason,
        "promote": promotion.better,
        "promotion_reason": promotion.reason,
        "promotion": promotion.to_dict(),
        "calibration": {"method": calibration.method, **calibration.metrics()},
        "champion_version": champion_version,
    }


@dg.asset(io_manager_def=TRAINING_VALUES, pool="registered_model", group_name=GROUP, kinds={"mlflow"},
          description="The model registered in MLflow; the champion alias moves only when it beats the champion.")
def registered_model(context: dg.AssetExecutionContext, model_evaluation: dict[str, Any],
                     mlflow: MlflowResource) -> dict[str, Any]:
    logged = mlflow.find_logged_run(model_evaluation["run_id"])
    version = mlflow.register_version(logged, description=model_evaluation["promotion_reason"])
    decision = PromotionDecision.from_dict(model_evaluation["promotion"])
    promoted = mlflow.apply_promotion(version, decision)
    champion = mlflow.champion_version()
    context.add_output_metadata({
        "registered_version": version,
        "promoted": promoted,
        "reason": decision.reason,
        "compared_versions": dg.MetadataValue.md(decision.table()),
        "champion_version": champion,
        "training_dataset_version": model_evaluation["training_dataset_version"],
        "tracking_uri": mlflow.resolved_tracking_uri(),
    })
    return {"version": version, "promoted": promoted, "champion_version": champion}


TRAINING_ASSETS = [fraud_feature_view, training_dataset, feature_selection, model_tuning, fraud_model,
                   learning_curve, model_evaluation, registered_model]
