"""Rollback on a real MLflow store: the alias moves back to the named version and the reason is
recorded on both versions; unknown versions, an empty reason or the current champion are refused
with nothing changed; the same through the command line and through `rollback_job` in Dagster."""

from __future__ import annotations

import shutil

import pytest

from fraud_pipelines.cli import main
from fraud_pipelines.resources import MlflowResource
from fraud_pipelines.training.jobs import rollback_job
from fraud_pipelines.training.registry import Lineage
from fraud_pipelines.training.rollback import RollbackError, rollback

LINEAGE = Lineage(training_dataset_version=1, feature_view_name="fraud_fv", feature_view_version=1)


def _registry(resource: MlflowResource, trained, splits, n: int = 3) -> MlflowResource:
    """`n` registered versions of the trained model, the last one champion."""
    for _ in range(n):
        logged = resource.log_training_run(trained, input_example=splits.X_train, transformation_state={},
                                           lineage=LINEAGE)
        resource.set_champion(resource.register_version(logged))
    assert resource.champion_version() == str(n)
    return resource


def test_rollback_moves_the_alias_and_records_why_on_both_versions(mlflow_resource, trained, splits):
    registry = _registry(mlflow_resource, trained, splits)
    done = rollback(registry, "1", "  v3 floods analysts with alerts \n since Monday ")
    assert (done.version, done.previous, done.reason) == ("1", "3", "v3 floods analysts with alerts since Monday")
    champion = registry.get_champion()
    assert champion is not None and champion.version == "1" and registry.load_champion().version == "1"
    back, left = registry.version_tags("1"), registry.version_tags("3")
    assert back["rollback.from"] == "3" and back["rollback.reason"] == done.reason and back["rollback.at"] == done.at
    assert left["rolled_back.to"] == "1" and left["rolled_back.reason"] == done.reason
    model = registry.client().get_registered_model(registry.registered_model_name)
    assert model.tags["last_rollback"].startswith("champion alias moved from v3 back to v1")


@pytest.mark.parametrize(
    ("version", "reason", "message"),
    [
        ("9", "bad model", r"has no version 9 .*known versions: v1, v2, v3"),
        ("v2x", "bad model", "must be a registered version number"),
        ("2", "  ", "needs a reason"),
        ("3", "bad model", "v3 is already the champion"),
    ],
)
def test_a_refused_rollback_changes_nothing(mlflow_resource, trained, splits, version, reason, message):
    registry = _registry(mlflow_resource, trained, splits)
    with pytest.raises(RollbackError, match=message):
        rollback(registry, version, reason)
    assert registry.champion_version() == "3"
    assert not any(key.startswith("rollback.") for key in registry.version_tags("2"))


def test_the_command_line_rolls_back_the_default_registry(fraud_home, migrated_mlflow_db, trained, splits, capsys):
    (fraud_home / "mlflow").mkdir()
    shutil.copyfile(migrated_mlflow_db, fraud_home / "mlflow" / "mlflow.db")
    registry = _registry(MlflowResource(), trained, splits, n=2)

    assert main(["rollback", "--to", "7", "--reason", "typo"]) == 2
    assert "rollback refused" in capsys.readouterr().err and registry.champion_version() == "2"

    assert main(["rollback", "--to", "1", "--reason", "recall fell on new merchants"]) == 0
    assert "from v2 back to v1" in capsys.readouterr().out
    assert MlflowResource().get_champion().version == "1"


def test_rollback_job_moves_the_alias_and_fails_clearly_on_an_unknown_version(mlflow_resource, trained, splits):
    registry = _registry(mlflow_resource, trained, splits)

    def run(version: str):
        config = {"ops": {"rollback_champion": {"config": {"version": version, "reason": "launched from the UI"}}}}
        return rollback_job.execute_in_process(run_config=config, resources={"mlflow": registry},
                                               raise_on_error=False)

    unknown = run("42")
    assert not unknown.success
    [failure] = [e for e in unknown.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "has no version 42" in failure.step_failure_data.user_failure_data.description
    assert registry.champion_version() == "3"

    done = run("2")
    assert done.success and done.output_for_node("rollback_champion")["previous"] == "3"
    assert registry.get_champion().version == "2"
    assert registry.version_tags("2")["rollback.reason"] == "launched from the UI"
