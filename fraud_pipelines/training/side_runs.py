"""MLflow runs of the training group besides the model's own: the feature-selection ranking, and the
hyperparameter search as a parent run with one nested run per trial (MLflow's UI folds them under it).

Like the registry, everything goes through the resource's own `MlflowClient`: no global tracking URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraud_pipelines.training.mlflow_values import log_values
from fraud_pipelines.training.registry import RegistryOperations
from fraud_pipelines.training.selection import SelectionPolicy, SelectionResult
from fraud_pipelines.training.tuning import TrialRecord, TuningBudget, TuningResult

#: MLflow's tag that nests a run under another.
PARENT_TAG = "mlflow.parentRunId"
KIND_TAG = "fraud.run_kind"


def log_selection(mlflow: RegistryOperations, result: SelectionResult, policy: SelectionPolicy, *,
                  training_dataset_version: int, feature_view: str) -> str:
    """A finished run holding the policy, the validation PR-AUCs and the ranking (JSON, Markdown)."""
    client = mlflow.client()
    tags = {KIND_TAG: "feature_selection", "training_dataset_version": str(training_dataset_version),
            "selected_feature_view": feature_view, "adopted": str(result.adopted)}
    run = client.create_run(mlflow.experiment_id(), run_name=f"feature selection td{training_dataset_version}",
                            tags=tags)
    run_id = run.info.run_id
    params = {k: v for k, v in vars(policy).items() if k != "params"} | {
        f"ranking_{k}": v for k, v in policy.params.to_dict().items() if k in ("n_estimators", "learning_rate",
                                                                              "max_depth")}
    log_values(client, run_id, params=params | {"selected_features": ",".join(result.selected)}, metrics={
        "full_validation_pr_auc": result.full_validation_pr_auc,
        "selected_validation_pr_auc": result.selected_validation_pr_auc,
        "n_candidates": float(len(result.ranking)), "n_selected": float(len(result.selected)),
        **{f"permutation_importance.{row.feature}": float(row.permutation_importance)
           for row in result.ranking.itertuples(index=False)},
    })
    client.log_dict(run_id, {"ranking": result.ranking.to_dict(orient="records"), "reason": result.reason()},
                    "selection/ranking.json")
    client.log_text(run_id, result.markdown(), "selection/ranking.md")
    client.set_terminated(run_id, "FINISHED")
    return run_id


class SearchRuns:
    """The search's parent run, opened by `start`, with `trial` logging each finished trial as a nested run."""

    def __init__(self, mlflow: RegistryOperations, *, training_dataset_version: int, budget: TuningBudget,
                 base_params: Mapping[str, Any]) -> None:
        self.client = mlflow.client()
        self.experiment_id = mlflow.experiment_id()
        run = self.client.create_run(self.experiment_id, run_name=f"hyperparameter search td{training_dataset_version}",
                                     tags={KIND_TAG: "hyperparameter_search",
                                           "training_dataset_version": str(training_dataset_version)})
        self.run_id = run.info.run_id
        log_values(self.client, self.run_id, params={**{f"budget_{k}": v for k, v in vars(budget).items()},
                                                      **{f"base_{k}": v for k, v in base_params.items()}})

    def trial(self, record: TrialRecord) -> None:
        """One nested, finished run per trial: its parameters, state and validation PR-AUC."""
        run = self.client.create_run(self.experiment_id, run_name=f"trial {record.number}",
                                     tags={PARENT_TAG: self.run_id, KIND_TAG: "tuning_trial",
                                           "trial_state": record.state})
        metrics = {"rounds": float(record.rounds)}
        if record.validation_pr_auc is not None:
            metrics["validation_pr_auc"] = record.validation_pr_auc
        log_values(self.client, run.info.run_id, params=record.params, metrics=metrics)
        self.client.set_terminated(run.info.run_id, "FINISHED" if record.state == "COMPLETE" else "KILLED")

    def finish(self, result: TuningResult | None, error: BaseException | None = None) -> None:
        """Close the parent run with the best parameters, or as failed."""
        if result is not None:
            log_values(self.client, self.run_id, params={f"best_{k}": v for k, v in result.best_params.items()},
                        metrics={"best_validation_pr_auc": result.best_validation_pr_auc,
                                 **({"base_validation_pr_auc": result.base_validation_pr_auc}
                                    if result.base_validation_pr_auc is not None else {}),
                                 "n_trials": float(len(result.trials)),
                                 "n_pruned": float(sum(t.state == "PRUNED" for t in result.trials)),
                                 "chosen_trial": float(result.chosen_trial)})
            self.client.set_tag(self.run_id, "tuning_decision", result.describe())
        self.client.set_terminated(self.run_id, "FAILED" if error is not None or result is None else "FINISHED")
