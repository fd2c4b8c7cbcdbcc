"""A candidate model judged on its training dataset's test split: against the logistic baseline, the champion
and the previous registered versions (re-scored on the same rows), with the promotion decision and the
calibration on held-out data. Plain code without Dagster: `model_evaluation` calls it, then logs and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.baseline import train_baseline
from fraud_pipelines.training.calibration import HeldOutCalibration, calibration_of_scores
from fraud_pipelines.training.evaluation import Comparison, Evaluation, compare, evaluate
from fraud_pipelines.training.fraud_view import read_splits
from fraud_pipelines.training.model import feature_importance
from fraud_pipelines.training.promotion import PromotionDecision, PromotionPolicy, decide
from fraud_pipelines.training.registry import RegistryOperations
from fraud_pipelines.training.rescoring import rescore_versions
from fraud_pipelines.training.thresholds import choose_threshold


@dataclass(frozen=True)
class Assessment:
    """Everything the candidate's evaluation found: scores and metrics per scorer on the test rows, the
    baseline gate, the promotion decision, the calibration on test and the candidate's feature importance."""

    y_test: np.ndarray
    scores: dict[str, np.ndarray]  # "model", "baseline" and, when there is one, "champion"
    evaluations: dict[str, Evaluation]
    versus_baseline: Comparison
    promotion: PromotionDecision
    calibration: HeldOutCalibration
    importance: pd.Series
    champion_version: str | None


def assess_candidate(registry: RegistryOperations, fv: Any, run_id: str, training_dataset_version: int,
                     policy: PromotionPolicy) -> Assessment:
    """Score the model logged in MLflow run `run_id`, a logistic baseline (fitted on train, thresholded on
    validation) and the registered champion and previous versions on the test split of training dataset
    `training_dataset_version` of `fv`, and decide promotion by `policy`. One split in memory at a time."""
    [(x_train, y_train)] = read_splits(fv, training_dataset_version, ("train",))
    baseline = train_baseline(x_train, y_train)
    del x_train, y_train
    [(x_val, y_val)] = read_splits(fv, training_dataset_version, ("validation",))
    baseline_threshold = choose_threshold(np.asarray(y_val), baseline.predict_proba(x_val), rule="max_f1")
    del x_val, y_val
    # read once with its keys: the scorers pick their features by name, the re-scored versions join on the keys
    [(x_test, y_test)] = read_splits(fv, training_dataset_version, ("test",), primary_key=True, event_time=True)
    y_test = np.asarray(y_test)
    spine = x_test[["tid", "datetime"]]
    candidate = registry.load_logged(registry.find_logged_run(run_id))
    calibration = calibration_of_scores(candidate.calibrator, candidate.raw_proba(x_test), y_test)
    scores = {"model": calibration.calibrated, "baseline": baseline.predict_proba(x_test)}
    del x_test  # the re-scored versions read the test rows again, each through its own transformations
    evaluations = {"model": evaluate(y_test, scores["model"], threshold=candidate.threshold, name="model"),
                   "baseline": evaluate(y_test, scores["baseline"], threshold=baseline_threshold, name="baseline")}
    champion = registry.get_champion()
    champion_version = champion.version if champion else None
    references, skipped = rescore_versions(registry, fv, training_dataset_version, champion_version, policy,
                                           spine=spine)
    for ref_version, role, ref_scores, ref_threshold in references:
        if role == "champion":
            scores["champion"] = ref_scores
            evaluations["champion"] = evaluate(y_test, ref_scores, threshold=ref_threshold,
                                               name=f"champion v{ref_version}")
    promotion = decide(evaluations["model"], scores["model"], y_test, [r[:3] for r in references], policy=policy,
                       champion_version=champion_version, skipped=skipped)
    return Assessment(y_test=y_test, scores=scores, evaluations=evaluations,
                      versus_baseline=compare(evaluations["model"], evaluations["baseline"]), promotion=promotion,
                      calibration=calibration,
                      importance=feature_importance(candidate.classifier, candidate.feature_names),
                      champion_version=champion_version)
