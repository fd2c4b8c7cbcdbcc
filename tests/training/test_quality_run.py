"""The model-quality assets in a real Dagster run on small synthetic data: feature selection reads
train and validation only and records a selected feature view version that reproduces its training
data; the Optuna search logs nested runs; fraud_model trains on the selection with the best parameters."""

from __future__ import annotations

import re
from types import SimpleNamespace

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.assessment import assess_candidate
from fraud_pipelines.training.assets import TRAINING_ASSETS, split_fraud_rates
from fraud_pipelines.training.model import TrainingParams, train_model
from fraud_pipelines.training.promotion import PromotionPolicy
from fraud_pipelines.training.side_runs import PARENT_TAG
from fraud_pipelines.training.tuning import TUNED

SMALL = RawSourceResource(n_cards=400, transactions_per_day=1_200, horizon_days=20, seed=5, fraud_rate=0.02)
QUALITY = ["raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards", "transactions_fg",
           "transactions_4h_aggs", "fraud_labels_fg", "fraud_feature_view", "training_dataset", "feature_selection",
           "model_tuning", "fraud_model", "learning_curve"]
# At most 5 features, adopted whatever their validation PR-AUC: a selected view version is certain.
CONFIG = {"ops": {"feature_selection": {"config": {"max_features": 5, "min_gain": -1.0, "n_repeats": 2}},
                  "model_tuning": {"config": {"n_trials": 3, "timeout_seconds": 0, "n_estimators": 200,
                                              "max_train_rows": 3_000}},
                  "fraud_model": {"config": {"use_selected_features": True, "max_train_rows": 3_000}},
                  "learning_curve": {"config": {"shares": [0.5]}}}}


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    """The whole quality graph run once; its instance and resources pinned to its home for later runs."""
    home = tmp_path_factory.mktemp("quality_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FRAUD_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_ASSETS], instance=instance,
                resources={"storage": StorageResource(), "raw_source": SMALL, "mlflow": MlflowResource()},
                selection=QUALITY, run_config=CONFIG,
                tags={"dagster/asset_partition_range_start": "2025-01-01",
                      "dagster/asset_partition_range_end": "2025-01-12"})
            assert result.success
            # pinned now: the per-test FRAUD_HOME fixture would move a lazily resolved store elsewhere
            resources = {"storage": StorageResource(root=str(home)), "raw_source": SMALL,
                         "mlflow": MlflowResource(tracking_uri=MlflowResource().resolved_tracking_uri())}
            yield SimpleNamespace(result=result, instance=instance, resources=resources,
                                  fs=resources["storage"].feature_store(), mlflow=resources["mlflow"])


@pytest.fixture(scope="module")
def run(quality):
    return quality.result, quality.fs, quality.mlflow


def metadata(result, asset: str) -> dict:
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(asset))
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_selection_reads_train_and_validation_rows_only(run):
    result, fs, _ = run
    selection = result.output_for_node("feature_selection")
    record = fraud_view.get_or_create(fs).get_training_dataset(selection["training_dataset_version"])
    seen = metadata(result, "feature_selection")
    assert seen["rows_read"] == {"train": record.row_counts["train"], "validation": record.row_counts["validation"]}
    assert pd.Timestamp(seen["latest_event_time_read"]) < pd.Timestamp(record.splits["test"].start)
    assert pd.Timestamp(seen["test_split_start"]) == pd.Timestamp(record.splits["test"].start)
    assert "| rank | feature |" in seen["ranking"]


def test_a_selected_view_version_reproduces_its_training_data(run):
    result, fs, _ = run
    selection = result.output_for_node("feature_selection")
    assert selection["adopted"] and selection["feature_view_version"] == 2 and len(selection["features"]) == 5
    full = fraud_view.get_or_create(fs)
    view = fs.get_feature_view(fraud_view.NAME, 2)
    assert view.feature_names() == selection["features"]
    source = full.get_train_validation_test_split(selection["training_dataset_version"])
    selected = view.get_train_validation_test_split(selection["selected_training_dataset_version"])
    for mine, theirs in zip(selected[:3], source[:3]):
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs[selection["features"]].reset_index(drop=True))
    for mine, theirs in zip(selected[3:], source[3:]):
        pd.testing.assert_series_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))
    record = view.get_training_dataset(selection["selected_training_dataset_version"])
    original = full.get_training_dataset(selection["training_dataset_version"])
    assert record.splits == original.splits and record.row_counts == original.row_counts
    assert all(original.delta_versions[table] == v for table, v in record.delta_versions.items())
    # asking again for the same features finds that version; the full view is untouched
    assert fraud_view.get_or_create_selected(fs, reversed(selection["features"])).version == 2
    assert full.feature_names() == list(fraud_view.TRANSACTION_FEATURES + fraud_view.WINDOW_FEATURES)


def test_fraud_model_trains_on_the_selection_with_the_tuned_parameters(run):
    result, _, mlflow = run
    selection = result.output_for_node("feature_selection")
    tuning = result.output_for_node("model_tuning")
    model = result.output_for_node("fraud_model")
    assert model["feature_names"] == selection["features"]
    if tuning["kept_base"]:  # no trial beat the defaults beyond the noise on validation: the model keeps its config
        assert tuning["params"] == {} and "the base parameters are kept" in tuning["decision"]
        assert {k: model["params"][k] for k in TUNED} == {k: getattr(TrainingParams(), k) for k in TUNED}
    else:
        assert tuning["params"] and {k: model["params"][k] for k in tuning["params"]} == tuning["params"]
    client = mlflow.client()
    tags = client.get_run(model["run_id"]).data.tags
    assert tags["selected_feature_view_version"] == "2" and tags["tuning_run_id"] == tuning["mlflow_run_id"]
    trials = client.search_runs([mlflow.experiment_id()], f"tags.`{PARENT_TAG}` = '{tuning['mlflow_run_id']}'")
    assert len(trials) == 3
    ranking = client.search_runs([mlflow.experiment_id()], "tags.`fraud.run_kind` = 'feature_selection'")
    assert len(ranking) == 1 and ranking[0].data.metrics["n_selected"] == 5


def test_a_train_split_beyond_max_train_rows_is_fitted_on_a_weighted_sample(run):
    result, _, mlflow = run
    model = result.output_for_node("fraud_model")
    seen = metadata(result, "fraud_model")
    assert seen["n_train_rows"] > 3_000 and seen["n_fitted_rows"] == 3_000
    frauds, rows = int(seen["n_train_positives"]), int(seen["n_train_rows"])
    assert seen["fitted_on"].startswith(f"3,000 of {rows:,} train rows: every fraud ({frauds:,}) and "
                                        f"{3_000 - frauds:,} genuine charges")
    assert metadata(result, "model_tuning")["fitted_on"] == seen["fitted_on"]  # the search fitted the same rows
    assert model["params"]["max_train_rows"] == 3_000
    logged = mlflow.client().get_run(model["run_id"]).data
    assert logged.params["max_train_rows"] == "3000" and logged.metrics["n_fitted_rows"] == 3_000


def test_learning_curve_is_stored_with_the_model_run(run):
    result, _, mlflow = run
    model = result.output_for_node("fraud_model")
    curve = result.output_for_node("learning_curve")["curve"]
    assert [point["share"] for point in curve] == [0.5, 1.0]
    # each point says how many of its rows the trees saw: the model's are a sample of the whole split
    assert curve[-1]["fitted_rows"] == 3_000 < curve[-1]["rows"]
    assert curve[0]["fitted_rows"] == min(curve[0]["rows"], 3_000)
    artifacts = {a.path for a in mlflow.client().list_artifacts(model["run_id"], "plots")}
    assert "plots/learning_curve.png" in artifacts


def test_a_candidate_is_assessed_without_dagster_against_the_baseline_and_the_champion(run):
    result, fs, mlflow = run
    model = result.output_for_node("fraud_model")
    fv = fraud_view.get_or_create(fs)
    version, policy = model["training_dataset_version"], PromotionPolicy(n_resamples=200)
    first = assess_candidate(mlflow, fv, model["run_id"], version, policy)
    [(_, y_test)] = fraud_view.read_splits(fv, version, ("test",))
    assert np.array_equal(first.y_test, np.asarray(y_test)) and set(first.scores) == {"model", "baseline"}
    assert first.evaluations["model"].n_rows == len(y_test) and first.champion_version is None
    assert first.promotion.better and "first champion" in first.promotion.reason
    assert first.versus_baseline.candidate_pr_auc == first.evaluations["model"].pr_auc
    assert first.versus_baseline.reference_pr_auc == first.evaluations["baseline"].pr_auc
    assert np.array_equal(first.scores["model"], first.calibration.calibrated)
    assert list(first.importance.index) == sorted(model["feature_names"], key=lambda f: -first.importance[f])
    # the same model as champion: re-scored on the same rows it ties the candidate, which is not promoted
    champion = mlflow.register_version(mlflow.find_logged_run(model["run_id"]))
    mlflow.set_champion(champion)
    again = assess_candidate(mlflow, fv, model["run_id"], version, policy)
    assert again.champion_version == champion and set(again.scores) == {"model", "baseline", "champion"}
    np.testing.assert_allclose(again.scores["champion"], again.scores["model"])
    assert again.evaluations["champion"].pr_auc == pytest.approx(again.evaluations["model"].pr_auc)
    compared = again.promotion.champion_comparison()
    assert not again.promotion.better and compared.version == champion and compared.interval.difference == 0


def test_fraud_model_alone_loads_the_stored_selection_and_parameters(quality):
    """A run of fraud_model alone (as from the UI, after a full run) loads feature_selection's and model_tuning's
    stored values; model_evaluation alone then loads that run's model."""
    earlier = quality.result
    selection, tuning = earlier.output_for_node("feature_selection"), earlier.output_for_node("model_tuning")
    everything = [*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_ASSETS]
    alone = dg.materialize(everything, instance=quality.instance, resources=quality.resources,
                           selection=["fraud_model"],
                           run_config={"ops": {"fraud_model": {"config": {"use_selected_features": True, "seed": 7}}}})
    assert alone.success
    assert [e.step_key for e in alone.get_step_success_events()] == ["fraud_model"]
    model = alone.output_for_node("fraud_model")
    assert model["run_id"] != earlier.output_for_node("fraud_model")["run_id"]
    assert model["feature_names"] == selection["features"] and len(selection["features"]) == 5
    assert {k: model["params"][k] for k in tuning["params"]} == tuning["params"] and model["params"]["seed"] == 7
    tags = quality.mlflow.client().get_run(model["run_id"]).data.tags
    assert tags["tuning_run_id"] == tuning["mlflow_run_id"] and tags["selected_feature_view_version"] == "2"
    # the value is on the materialization (shown in the UI) and loads outside a run, as the CLI's summary does
    stored = dg.Definitions(assets=everything, resources=quality.resources)
    assert stored.load_asset_value("fraud_model", instance=quality.instance) == model

    evaluation = dg.materialize(everything, instance=quality.instance, resources=quality.resources,
                                selection=["model_evaluation"],
                                run_config={"ops": {"model_evaluation": {"config": {"n_resamples": 200}}}})
    assert evaluation.success and evaluation.output_for_node("model_evaluation")["run_id"] == model["run_id"]


def test_fraud_model_alone_in_a_fresh_instance_says_what_to_materialize():
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_ASSETS], instance=instance,
                            resources={"storage": StorageResource(), "raw_source": SMALL, "mlflow": MlflowResource()},
                            selection=["fraud_model"], raise_on_error=False)
    assert not result.success and not result.get_step_success_events()
    [failure] = result.get_step_failure_events()
    error, messages = failure.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    text = "\n".join(messages)
    # the first input it loads (training_dataset, feature_selection or model_tuning) is named, with what to do
    named = re.search(r"(\w+) has never been materialized in this Dagster instance", text)
    assert named and named.group(1) in {"training_dataset", "feature_selection", "model_tuning"}
    assert f"materialize {named.group(1)} (or the whole training group) first" in text
    assert len(text) < 2_000


def test_split_fraud_rates_come_from_the_labels_and_match_the_splits(quality):
    version = quality.result.output_for_node("training_dataset")["version"]
    fv = fraud_view.get_or_create(quality.fs)
    read = {name: round(float(y.mean()), 5) for name, (_, y) in
            zip(("train", "validation", "test"), fraud_view.read_splits(fv, version, ("train", "validation", "test")))}
    assert metadata(quality.result, "training_dataset")["fraud_rate"] == read
    labels = groups.FRAUD_LABELS.get_or_create(quality.fs).read(columns=["datetime", "is_fraud"])
    record = fv.get_training_dataset(version)
    assert split_fraud_rates(fv, version, labels, record) == read
    # a label missing from the frame (written meanwhile) makes its split's count differ: that split is read instead
    assert split_fraud_rates(fv, version, labels.iloc[1:], record) == read


def test_bounded_training_reads_give_the_same_rows_and_the_same_model(quality, monkeypatch):
    stored = quality.result.output_for_node("training_dataset")["version"]
    view = fraud_view.get_or_create(quality.fs)
    record = view.get_training_dataset(stored)
    assert set(record.frozen) == set(record.splits)  # the pipeline's version holds its rows
    # the same splits without rows: read by the join, under the store's default memory and the training bound
    version = view.create_train_validation_test_split(
        **{f"{name}_{end}": getattr(record.splits[name], end) for name in record.splits for end in ("start", "end")},
        materialize=False)
    assert view.get_training_dataset(version).delta_versions == record.delta_versions
    default = fraud_view.train_and_validation(view, version)
    bounded = fraud_view.train_and_validation(
        fraud_view.get_or_create(fraud_view.training_store(quality.resources["storage"])), version)
    for mine, theirs, copy in zip(bounded, default, fraud_view.train_and_validation(view, stored)):
        assert mine.equals(theirs) and copy.equals(theirs)
    params = TrainingParams(n_estimators=60, n_jobs=1, calibration="none")
    first, second = (train_model(x_train, y_train, x_val, y_val, params)
                     for x_train, x_val, y_train, y_val in (default, bounded))
    assert np.array_equal(first.raw_proba(default[1]), second.raw_proba(bounded[1]))
    # a limit too small for the join is refused naming the setting that fixes it
    monkeypatch.setenv(fraud_view.QUERY_MEMORY_ENV, "8MB")
    small = fraud_view.get_or_create(fraud_view.training_store(quality.resources["storage"]))
    with pytest.raises(MemoryError, match=r"ran out of DuckDB's query memory .*raise \$FRAUD_TRAINING_QUERY_MEMORY "
                                          r"\(now 8MB") as caught:
        fraud_view.train_and_validation(small, version)
    assert len(str(caught.value)) < 2_000
    assert fraud_view.train_and_validation(small, stored)[0].equals(default[0])  # a stored version needs no join


def test_fraud_model_loads_the_trees_the_search_fitted_with_its_parameters_and_fits_otherwise(quality):
    """A search that keeps the base parameters fitted fraud_model's trees as its trial 0: fraud_model loads them
    (the same booster bytes, threshold and calibration a fit gives); other parameters are fitted. Last in the module:
    it materializes model_tuning again."""
    everything = [*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_ASSETS]
    trees = {"n_estimators": 120, "early_stopping_rounds": 15}
    run = dg.materialize(everything, instance=quality.instance, resources=quality.resources,
                         selection=["model_tuning", "fraud_model"], run_config={"ops": {
                             "model_tuning": {"config": {"n_trials": 1, "timeout_seconds": 0, **trees}},
                             "fraud_model": {"config": {"use_selected_features": True, **trees}}}})
    assert run.success and run.output_for_node("model_tuning")["kept_base"]
    model = run.output_for_node("fraud_model")
    client = quality.mlflow.client()
    run_data = client.get_run(model["run_id"]).data
    assert "trees of trial 0" in run_data.tags["trees"] and "not fitted again" in run_data.tags["trees"]
    assert metadata(run, "fraud_model")["trees"] == run_data.tags["trees"]

    version, features = model["training_dataset_version"], model["feature_names"]
    x_train, x_val, y_train, y_val = fraud_view.train_and_validation(fraud_view.get_or_create(quality.fs), version)
    fitted = train_model(x_train[features], y_train, x_val[features], y_val, TrainingParams(**model["params"]))
    loaded = quality.mlflow.load_logged(quality.mlflow.find_logged_run(model["run_id"]))
    assert loaded.classifier.get_booster().save_raw("ubj") == fitted.classifier.get_booster().save_raw("ubj")
    assert loaded.threshold == fitted.threshold and loaded.calibrator == fitted.calibrator
    for name, value in fitted.summary().items():
        assert run_data.metrics[name] == pytest.approx(value, rel=1e-12), name

    # another seed: not the trees the search fitted, so fraud_model fits its own and says why
    other = dg.materialize(everything, instance=quality.instance, resources=quality.resources,
                           selection=["fraud_model"], run_config={"ops": {"fraud_model": {"config": {
                               "use_selected_features": True, **trees, "seed": 8}}}})
    assert other.success
    said = client.get_run(other.output_for_node("fraud_model")["run_id"]).data.tags["trees"]
    assert "fitted on another tree_params" in said
