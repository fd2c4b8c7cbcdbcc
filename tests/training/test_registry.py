"""The MLflow resource on a real SQLite store in tmp_path: log, register, promote, load, and the
guarantees around them (same probabilities after loading, no alias for a worse model, lineage,
transformation state round trip, no process-global MLflow state touched)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import yaml

from fraud_pipelines.resources import MlflowResource
from fraud_pipelines.training.evaluation import Evaluation, evaluate
from fraud_pipelines.training.model import train_model
from fraud_pipelines.training.promotion import decide
from fraud_pipelines.training.registry import Lineage

from .conftest import FAST_PARAMS

STATE = {
    "amount": {"kind": "standard_scaler", "mean": 42.5, "std": 13.25},
    "category": {"kind": "label_encoder", "classes": ["Grocery", "Holiday/Travel"], "unknown": -1},
    "flags": [True, None, 3],
}
LINEAGE = Lineage(
    training_dataset_version=3, feature_view_name="fraud_fv", feature_view_version=1,
    delta_versions={"transactions": 12, "transactions_4h_aggs": 7},
)


def _log(resource, model, splits, lineage=LINEAGE):
    return resource.log_training_run(
        model, input_example=splits.X_train, transformation_state=STATE, lineage=lineage
    )


def _test_eval(model, splits, name="model") -> Evaluation:
    return evaluate(splits.y_test, model.predict_proba(splits.X_test), threshold=model.threshold, name=name)


def _first(evaluation, model, splits):
    return decide(evaluation, model.predict_proba(splits.X_test), splits.y_test, [], champion_version=None)


def test_champion_loaded_from_the_registry_scores_exactly_like_the_trained_model(mlflow_resource, splits, trained):
    logged = _log(mlflow_resource, trained, splits)
    before_registration = mlflow_resource.load_logged(logged)  # what model_evaluation scores
    np.testing.assert_array_equal(
        before_registration.predict_proba(splits.X_test), trained.predict_proba(splits.X_test)
    )
    evaluation = _test_eval(trained, splits)
    mlflow_resource.log_evaluation(logged.run_id, {"model": evaluation})
    version = mlflow_resource.register_version(logged)
    assert mlflow_resource.apply_promotion(version, _first(evaluation, trained, splits))

    champion = mlflow_resource.load_champion()
    np.testing.assert_array_equal(champion.predict_proba(splits.X_test), trained.predict_proba(splits.X_test))
    assert (champion.version, champion.run_id) == (version, logged.run_id)
    assert champion.threshold == trained.threshold
    assert champion.feature_names == trained.feature_names
    assert champion.transformation_state == STATE

    info = mlflow_resource.get_champion()
    assert info is not None and info.version == version == mlflow_resource.champion_version() == "1"
    assert info.training_dataset_version == "3"
    assert info.test_metrics["pr_auc"] == pytest.approx(evaluation.pr_auc)
    assert info.tags["delta_version.transactions"] == "12" and info.tags["feature_view"] == "fraud_fv"
    assert info.tags["promotion"] == "promoted" and info.tags["logged_model_id"] == logged.model_id


def test_training_run_records_params_metrics_lineage_and_a_complete_model_folder(mlflow_resource, splits, trained):
    logged = _log(mlflow_resource, trained, splits)
    run = mlflow_resource.client().get_run(logged.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["learning_rate"] == str(FAST_PARAMS.learning_rate)
    assert run.data.params["threshold_rule"] == "max_f1"
    assert run.data.metrics["best_iteration"] == trained.best_iteration
    assert run.data.metrics["scale_pos_weight"] == pytest.approx(trained.scale_pos_weight)
    assert run.data.tags["training_dataset_version"] == "3"
    assert run.data.tags["delta_version.transactions_4h_aggs"] == "7"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["fraud_fv_v1"]

    folder = Path(logged.model_uri.removeprefix("file://"))
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [column["name"] for column in inputs] == list(trained.feature_names)
    assert mlmodel["metadata"]["threshold"] == trained.threshold
    assert (folder / "input_example.json").exists()
    assert json.loads((folder / "transformation_state.json").read_text()) == STATE
    requirements = (folder / "requirements.txt").read_text()
    assert "xgboost" in requirements and requirements.count("xgboost") == 1  # one distribution, not both
    assert mlflow_resource.find_logged_run(logged.run_id) == logged


def test_only_a_better_candidate_takes_the_champion_alias(mlflow_resource, splits, trained):
    weak = train_model(
        splits.X_train, splits.y_train, splits.X_val, splits.y_val,
        replace(FAST_PARAMS, n_estimators=1, max_depth=1, early_stopping_rounds=1),
    )
    first = mlflow_resource.register_version(_log(mlflow_resource, weak, splits))
    mlflow_resource.apply_promotion(first, _first(_test_eval(weak, splits), weak, splits))

    def promote(candidate) -> tuple[str, bool]:
        version = mlflow_resource.register_version(_log(mlflow_resource, candidate, splits))
        champion = mlflow_resource.load_champion()  # re-scored on the candidate's own test split
        references = [(champion.version, "champion", champion.predict_proba(splits.X_test))]
        decision = decide(_test_eval(candidate, splits, name=f"candidate v{version}"),
                          candidate.predict_proba(splits.X_test), splits.y_test, references,
                          champion_version=champion.version)
        return version, mlflow_resource.apply_promotion(version, decision)

    strong_version, moved = promote(trained)
    assert moved and mlflow_resource.champion_version() == strong_version == "2"

    weak_version, moved = promote(weak)
    assert not moved and mlflow_resource.champion_version() == "2"
    tags = mlflow_resource.client().get_model_version(mlflow_resource.registered_model_name, weak_version).tags
    assert tags["promotion"] == "rejected" and tags["champion_at_decision"] == "2"
    assert "does not beat champion v2" in tags["promotion_reason"]
    assert tags["promotion.compared_versions"] == "2" and float(tags["promotion.ci_low"]) <= 0
    assert tags["promotion.confidence"] == "0.95" and tags["promotion.vs_v2"].startswith("champion: PR-AUC")
    strong_tags = mlflow_resource.version_tags(strong_version)
    assert strong_tags["promotion"] == "promoted" and float(strong_tags["promotion.ci_low"]) > 0
    assert mlflow_resource.load_champion().version == "2"


def test_empty_registry_has_no_champion_and_says_so(mlflow_resource):
    assert mlflow_resource.champion_version() is None and mlflow_resource.get_champion() is None
    with pytest.raises(LookupError, match="no 'champion' alias yet"):
        mlflow_resource.load_champion()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"amount": {"mean": np.float32(1.5)}}, r"transformation_state\['amount'\]\['mean'\] is a numpy.float32"),
        ({"category": {"classes": ("a", "b")}}, r"\['category'\]\['classes'\] is a builtins.tuple"),
        ({"codes": {1: "a"}}, r"transformation_state\['codes'\] has a non-string key 1"),
    ],
)
def test_state_that_would_not_round_trip_is_refused_before_anything_is_logged(
    mlflow_resource, splits, trained, state, message
):
    with pytest.raises(TypeError, match=message):
        mlflow_resource.log_training_run(
            trained, input_example=splits.X_train, transformation_state=state, lineage=LINEAGE
        )
    assert mlflow_resource.client().search_runs([mlflow_resource.experiment_id()]) == []


def test_no_process_global_mlflow_state_is_touched(mlflow_resource, splits, trained, tmp_path, monkeypatch):
    import mlflow

    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), os.environ.get("MLFLOW_TRACKING_URI"))
    logged = _log(mlflow_resource, trained, splits)
    mlflow_resource.set_champion(mlflow_resource.register_version(logged))
    mlflow_resource.load_champion()
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), os.environ.get("MLFLOW_TRACKING_URI")) == before
    assert mlflow.active_run() is None
    assert os.listdir(workdir) == []  # no stray mlflow.db or mlruns/ in the working directory


def test_defaults_live_under_fraud_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "home"))
    resource = MlflowResource()
    assert resource.resolved_tracking_uri() == f"sqlite:///{tmp_path / 'home' / 'mlflow' / 'mlflow.db'}"
    assert resource.resolved_artifact_location() == (tmp_path / "home" / "mlflow" / "artifacts").as_uri()
    monkeypatch.setenv("FRAUD_HOME", "s3://bucket/fraud")
    assert MlflowResource(tracking_uri="sqlite:///x.db").resolved_artifact_location() == "s3://bucket/fraud/mlflow/artifacts"


def test_resource_is_usable_from_a_dagster_asset(mlflow_resource):
    @dg.asset
    def champion_probe(mlflow: MlflowResource) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"champion": str(mlflow.champion_version())})

    result = dg.materialize([champion_probe], resources={"mlflow": mlflow_resource})
    assert result.success
    [materialization] = result.asset_materializations_for_node("champion_probe")
    assert materialization.metadata["champion"].value == "None"


def test_a_run_that_fails_while_logging_is_marked_failed_not_left_running(mlflow_resource, splits, trained):
    from xgboost import XGBClassifier

    unfitted = replace(trained, classifier=XGBClassifier())
    with pytest.raises(Exception, match="(?i)fit"):
        _log(mlflow_resource, unfitted, splits)
    [run] = mlflow_resource.client().search_runs([mlflow_resource.experiment_id()])
    assert run.info.status == "FAILED"
    assert mlflow_resource.champion_version() is None
