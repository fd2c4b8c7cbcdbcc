"""The search's chosen trial kept on its MLflow run: loaded only for the very rows, features and tree parameters it
was fitted on, and then the same trees, threshold and calibration as a fit (the Dagster run is in test_quality_run)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fraud_pipelines.training.model import TrainingParams, finish_model, train_model
from fraud_pipelines.training.trial_trees import load_trial_trees, save_trial_trees, trial_key
from fraud_pipelines.training.tuning import TuningBudget, tune

BASE = TrainingParams(n_jobs=1, seed=7, n_estimators=120, early_stopping_rounds=15, calibration="none")


def test_trial_0_saved_and_loaded_finishes_into_the_model_a_fit_gives(splits, mlflow_resource):
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, BASE, TuningBudget(n_trials=1, seed=3))
    assert result.base_is_best
    params, classifier = result.chosen_model
    assert params.tree_params() == BASE.tree_params()
    client = mlflow_resource.client()
    run_id = client.create_run(mlflow_resource.experiment_id()).info.run_id
    features = list(splits.X_train.columns)
    save_trial_trees(client, run_id, 0, classifier, key=trial_key(4, features, params), y_train=splits.y_train,
                    input_example=splits.X_train.head(5))

    # calibration and the threshold rule act after the trees: a model asking for them still loads trial 0
    wanted = replace(BASE, calibration="auto", threshold_rule="max_recall_at_fpr")
    base, said = load_trial_trees(client, run_id, trial_key(4, features, wanted))
    assert base is not None and "not fitted again" in said
    fitted = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, wanted)
    loaded = finish_model(base.classifier, splits.X_val, splits.y_val, wanted, scale_pos_weight=base.scale_pos_weight,
                          n_train_rows=base.n_train_rows, n_train_positives=base.n_train_positives)
    assert loaded.classifier.get_booster().save_raw("ubj") == fitted.classifier.get_booster().save_raw("ubj")
    assert loaded.summary() == fitted.summary() and loaded.calibrator == fitted.calibrator
    np.testing.assert_array_equal(loaded.predict_proba(splits.X_test), fitted.predict_proba(splits.X_test))
    assert base.input_example.equals(splits.X_train.head(5))

    # anything the trees depend on differs: not loaded, and the sentence names what
    for key, what in ((trial_key(5, features, wanted), "training_dataset_version"),
                      (trial_key(4, features[:-1], wanted), "features"),
                      (trial_key(4, features, replace(wanted, seed=8)), "tree_params")):
        none, said = load_trial_trees(client, run_id, key)
        assert none is None and f"fitted on another {what}" in said
    empty = client.create_run(mlflow_resource.experiment_id()).info.run_id
    assert load_trial_trees(client, empty, trial_key(4, features, wanted))[0] is None
    assert "no search ran" in load_trial_trees(client, None, trial_key(4, features, wanted))[1]


def test_a_sampled_trial_chosen_keeps_its_own_trees(splits):
    # greedy (no noise rule) on a shallower base: a sampled trial scores highest and is chosen
    base = replace(BASE, max_depth=4)
    result = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base,
                  TuningBudget(n_trials=5, seed=4, n_startup_trials=3, prune_warmup_rounds=10, beyond_noise=False))
    assert result.chosen_trial != 0
    params, classifier = result.chosen_model
    assert params == result.apply(base)
    fitted = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, result.apply(base))
    assert classifier.get_booster().save_raw("ubj") == fitted.classifier.get_booster().save_raw("ubj")
    # kept by the noise rule, trial 0's trees are the chosen ones
    kept = tune(splits.X_train, splits.y_train, splits.X_val, splits.y_val, base,
                TuningBudget(n_trials=5, seed=4, n_startup_trials=3, prune_warmup_rounds=10))
    assert kept.chosen_trial == 0 and kept.chosen_model[0] == base
