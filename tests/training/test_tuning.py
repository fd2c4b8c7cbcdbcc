"""Optuna search: seeded and reproducible, pruned on validation PR-AUC, every trial a nested MLflow run."""

from __future__ import annotations

import pytest

from fraud_pipelines.training.model import TrainingParams
from fraud_pipelines.training.side_runs import PARENT_TAG, SearchRuns
from fraud_pipelines.training.tuning import TUNED, TuningBudget, tune

BASE = TrainingParams(n_jobs=1, seed=7, n_estimators=200, early_stopping_rounds=20, calibration="none")
BUDGET = TuningBudget(n_trials=8, seed=3, n_startup_trials=3, prune_warmup_rounds=10)


@pytest.fixture(scope="module")
def searched(splits):
    return tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, BUDGET)


def test_same_seed_same_trials_and_best_parameters(searched, splits):
    again = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, BUDGET)
    assert again == searched
    other = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE,
                 TuningBudget(n_trials=3, seed=4, n_startup_trials=3))
    assert other.trials[0].params != searched.trials[0].params


def test_best_trial_is_the_highest_validation_pr_auc_and_its_parameters_apply(searched):
    assert len(searched.trials) == BUDGET.n_trials and set(searched.best_params) == set(TUNED)
    finished = [t.validation_pr_auc for t in searched.trials if t.state == "COMPLETE"]
    assert searched.best_validation_pr_auc == max(finished) > 0.5
    applied = searched.apply(BASE)
    assert applied.max_depth == searched.best_params["max_depth"] and applied.seed == BASE.seed


def test_pruning_stops_hopeless_trials_early(splits):
    # a long, strict search: later trials whose validation curve trails the median are cut short
    budget = TuningBudget(n_trials=14, seed=0, n_startup_trials=2, prune_warmup_rounds=5)
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, budget)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, [t.state for t in result.trials]
    assert all(t.validation_pr_auc is None for t in pruned)


def test_every_trial_is_a_nested_mlflow_run(splits, mlflow_resource):
    runs = SearchRuns(mlflow_resource, training_dataset_version=1, budget=BUDGET, base_params=BASE.to_dict())
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE,
                  TuningBudget(n_trials=3, seed=3, n_startup_trials=3), on_trial=runs.trial)
    runs.finish(result)
    client = mlflow_resource.client()
    children = client.search_runs([mlflow_resource.experiment_id()], f"tags.`{PARENT_TAG}` = '{runs.run_id}'")
    assert sorted(int(r.data.params["max_depth"]) for r in children) == sorted(
        t.params["max_depth"] for t in result.trials)
    assert {r.info.run_name for r in children} == {"trial 0", "trial 1", "trial 2"}
    parent = client.get_run(runs.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_validation_pr_auc"] == pytest.approx(result.best_validation_pr_auc)
    assert parent.data.params["best_max_depth"] == str(result.best_params["max_depth"])


def test_a_budget_that_is_off_is_refused(splits):
    assert not TuningBudget().enabled
    with pytest.raises(ValueError, match="off"):
        tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, TuningBudget())
    with pytest.raises(ValueError, match="n_trials"):
        TuningBudget(n_trials=-1)
