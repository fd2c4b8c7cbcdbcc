"""Optuna search: seeded and reproducible, pruned on validation PR-AUC, every trial a nested MLflow run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fraud_pipelines.training.model import TrainingParams, train_model
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
    assert other.trials[1].params != searched.trials[1].params  # trial 0 is the base parameters in both


def test_trial_0_is_the_base_parameters_so_the_search_never_ends_below_them(searched, splits):
    assert searched.trials[0].params == {name: getattr(BASE, name) for name in TUNED}
    plain = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE)
    assert searched.trials[0].validation_pr_auc == pytest.approx(plain.validation_pr_auc, abs=1e-12)
    assert searched.base_validation_pr_auc == searched.trials[0].validation_pr_auc
    assert searched.best_validation_pr_auc >= plain.validation_pr_auc
    # a budget of one trial is the base itself: tuning then changes nothing
    alone = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, TuningBudget(n_trials=1, seed=3))
    assert alone.base_is_best and alone.apply(BASE) == BASE


def test_without_the_base_trial_every_trial_is_sampled(splits):
    budget = TuningBudget(n_trials=2, seed=3, n_startup_trials=3, start_from_base=False)
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, budget)
    assert result.base_validation_pr_auc is None and not result.base_is_best
    assert result.trials[0].params != {name: getattr(BASE, name) for name in TUNED}


def test_base_parameters_outside_the_space_are_refused_by_name(splits):
    with pytest.raises(ValueError, match=r"max_depth=12 \(searched within 3\.\.10\)"):
        tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, replace(BASE, max_depth=12),
             TuningBudget(n_trials=2))


def test_the_chosen_trial_is_the_highest_beyond_the_noise_or_the_base_and_its_parameters_apply(searched):
    assert len(searched.trials) == BUDGET.n_trials and set(searched.best_params) == set(TUNED)
    finished = {t.number: t.validation_pr_auc for t in searched.trials if t.state == "COMPLETE"}
    highest = max((n for n in finished if n), key=finished.get)
    assert searched.gain is not None and searched.gain.difference == pytest.approx(finished[highest] - finished[0])
    assert searched.chosen_trial == (highest if searched.gain.low > 0 else 0)
    assert searched.best_validation_pr_auc == finished[searched.chosen_trial] > 0.5
    assert searched.best_params == searched.trials[searched.chosen_trial].params
    applied = searched.apply(BASE)
    assert applied.max_depth == searched.best_params["max_depth"] and applied.seed == BASE.seed


def test_a_trial_better_inside_the_noise_does_not_replace_the_base_parameters(splits):
    # 39 validation frauds: the best sampled trial scores +0.03 above the base, an interval of about +-0.05
    base = replace(BASE, max_depth=4)
    budget = TuningBudget(n_trials=5, seed=4, n_startup_trials=3, prune_warmup_rounds=10)
    kept = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base, budget)
    scores = {t.number: t.validation_pr_auc for t in kept.trials if t.validation_pr_auc is not None}
    best = max((n for n in scores if n), key=scores.get)
    assert scores[best] > scores[0] and kept.gain.low < 0 < kept.gain.difference
    assert kept.base_is_best and kept.apply(base) == base and kept.best_validation_pr_auc == scores[0]
    assert "inside the noise: the base parameters are kept" in kept.describe()
    greedy = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base,
                  replace(budget, beyond_noise=False))
    assert greedy.chosen_trial == best and greedy.gain is None and greedy.apply(base) != base


@pytest.fixture(scope="module")
def beyond_noise(splits):
    base = replace(BASE, colsample_bytree=0.6)  # often leaves x0 or x1, the interaction, out of a tree
    budget = TuningBudget(n_trials=5, seed=3, n_startup_trials=3, prune_warmup_rounds=10)
    return base, tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base, budget)


def test_a_trial_better_beyond_the_noise_replaces_the_base_parameters(beyond_noise):
    _, tuned = beyond_noise
    assert tuned.gain.low > 0 and not tuned.base_is_best
    assert tuned.best_params == tuned.trials[tuned.chosen_trial].params != tuned.trials[0].params
    assert "beyond the noise: its parameters are used" in tuned.describe()


def test_the_class_weight_is_searched_from_today_s_and_the_chosen_one_trains_the_model(searched, beyond_noise, splits):
    defaults = TrainingParams()  # today's model: classes weighed the same, steps not capped, any split
    assert (defaults.imbalance_power, defaults.max_delta_step, defaults.gamma) == (1.0, 0.0, 0.0)
    assert {k: searched.trials[0].params[k] for k in ("imbalance_power", "max_delta_step", "gamma")} == {
        "imbalance_power": 1.0, "max_delta_step": 0.0, "gamma": 0.0}
    powers = [t.params["imbalance_power"] for t in searched.trials[1:]]
    assert all(0.0 <= p <= 1.0 for p in powers) and len(set(powers)) == len(powers)
    base, tuned = beyond_noise
    chosen = tuned.trials[tuned.chosen_trial]
    model = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, tuned.apply(base))
    ratio = (len(splits.y_train) - splits.y_train.sum()) / splits.y_train.sum()
    assert model.params.imbalance_power == chosen.params["imbalance_power"] < 1.0
    assert model.scale_pos_weight == pytest.approx(ratio ** chosen.params["imbalance_power"])
    assert model.classifier.get_params()["max_delta_step"] == chosen.params["max_delta_step"]
    assert model.validation_pr_auc == pytest.approx(chosen.validation_pr_auc, abs=1e-12)  # the trial's own model


def test_a_fixed_class_weight_is_not_searched(splits):
    base = replace(BASE, scale_pos_weight=5.0)
    budget = TuningBudget(n_trials=3, seed=3, n_startup_trials=3)
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base, budget)
    assert all("imbalance_power" not in t.params and "gamma" in t.params for t in result.trials)
    again = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base, budget)
    assert again == result and result.apply(base).scale_pos_weight == 5.0


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
    assert parent.data.metrics["base_validation_pr_auc"] == pytest.approx(result.trials[0].validation_pr_auc)
    assert parent.data.params["budget_start_from_base"] == "True"
    assert parent.data.tags["tuning_decision"] == result.describe()
    assert parent.data.metrics["chosen_trial"] == result.chosen_trial
    assert parent.data.params["best_max_depth"] == str(result.best_params["max_depth"])
    assert parent.data.params["best_imbalance_power"] == str(result.best_params["imbalance_power"])
    assert sorted(float(r.data.params["imbalance_power"]) for r in children) == sorted(
        t.params["imbalance_power"] for t in result.trials)


def test_a_budget_that_is_off_is_refused(splits):
    assert not TuningBudget().enabled
    with pytest.raises(ValueError, match="off"):
        tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, TuningBudget())
    with pytest.raises(ValueError, match="n_trials"):
        TuningBudget(n_trials=-1)
    with pytest.raises(ValueError, match="confidence"):
        TuningBudget(n_trials=3, confidence=1.0)
