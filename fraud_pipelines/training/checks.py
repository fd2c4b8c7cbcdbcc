"""Model gates: a model that does not beat the simple baseline never reaches the registry."""

from typing import Any

import dagster as dg

from fraud_pipelines.training.assets import model_evaluation

BEATS_BASELINE = "beats_baseline"


@dg.asset_check(asset=model_evaluation, name=BEATS_BASELINE, blocking=True,
                description="The model's test PR-AUC must exceed the logistic-regression baseline's on the same split.")
def beats_baseline(model_evaluation: dict[str, Any]) -> dg.AssetCheckResult:
    model = model_evaluation["evaluations"]["model"]
    baseline = model_evaluation["evaluations"]["baseline"]
    return dg.AssetCheckResult(
        passed=bool(model_evaluation["beats_baseline"]),
        description=model_evaluation["baseline_reason"],
        metadata={"model_pr_auc": model["pr_auc"], "baseline_pr_auc": baseline["pr_auc"]},
    )


TRAINING_CHECKS = [beats_baseline]
