"""`fraud-pipelines challenger` on a real MLflow store: it sets and clears the `challenger` alias with
the reason recorded in the registry, and refuses the champion, an unknown version, a version that
shadow scoring could not rebuild, or an empty reason with a clear message and nothing changed."""

from __future__ import annotations

import re
import shutil

import pytest

from fraud_pipelines.cli import main
from fraud_pipelines.governance.challenger import ChallengerError, challenger_version, set_challenger
from fraud_pipelines.resources import MlflowResource
from fraud_pipelines.training.registry import Lineage

LINEAGE = Lineage(training_dataset_version=1, feature_view_name="fraud_fv", feature_view_version=1)


def _register(resource: MlflowResource, trained, splits, n: int) -> None:
    """`n` registered versions of the trained model, v1 champion."""
    for _ in range(n):
        logged = resource.log_training_run(trained, input_example=splits.X_train, transformation_state={},
                                           lineage=LINEAGE)
        resource.register_version(logged)
    resource.set_champion("1")


@pytest.fixture
def registry(fraud_home, migrated_mlflow_db, trained, splits) -> MlflowResource:
    """The default registry under $FRAUD_HOME (what the command opens) with v1 champion, v2 and v3."""
    (fraud_home / "mlflow").mkdir()
    shutil.copyfile(migrated_mlflow_db, fraud_home / "mlflow" / "mlflow.db")
    resource = MlflowResource()
    _register(resource, trained, splits, 3)
    return resource


def _model_tags(registry: MlflowResource) -> dict[str, str]:
    return registry.client().get_registered_model(registry.registered_model_name).tags


def test_the_command_sets_moves_and_clears_the_challenger_with_its_reason(registry, capsys):
    assert main(["challenger", "--version", "2", "--reason", "  retrained on  March "]) == 0
    assert "challenger alias set on v2" in capsys.readouterr().out
    assert challenger_version(registry) == "2" and registry.champion_version() == "1"
    tags = registry.version_tags("2")
    assert tags["challenger.reason"] == "retrained on March" and tags["challenger.at"]
    assert _model_tags(registry)["last_challenger"].startswith("challenger alias set on v2 at ")

    assert main(["challenger", "--version", "v3", "--reason", "newer candidate"]) == 0
    assert "set on v3 (was v2)" in capsys.readouterr().out
    assert challenger_version(registry) == "3"

    assert main(["challenger", "--clear", "--reason", "competition done"]) == 0
    assert "removed from v3" in capsys.readouterr().out
    assert challenger_version(registry) is None and registry.champion_version() == "1"
    assert registry.version_tags("3")["challenger.cleared_reason"] == "competition done"
    assert len(registry.latest_versions(10)) == 3  # the version stays registered

    assert main(["challenger", "--clear", "--reason", "again"]) == 0  # nothing in shadow: nothing to do
    assert "nothing changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--version", "1", "--reason", "x"], "v1 is the champion; a challenger must be another registered version"),
        (["--version", "9", "--reason", "x"],
         r"v9 is not a registered version of 'fraud_model' \(registered: 1, 2, 3\)"),
        (["--version", "two", "--reason", "x"], "must be a registered version number"),
        (["--version", "2", "--reason", "   "], "needs a reason"),
    ],
)
def test_a_refused_challenger_changes_nothing(registry, capsys, argv, message):
    assert main(["challenger", "--version", "3", "--reason", "in shadow"]) == 0
    capsys.readouterr()
    assert main(["challenger", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("challenger refused: ") and len(err) < 2_000
    assert re.search(message, err)
    assert challenger_version(registry) == "3" and registry.champion_version() == "1"
    assert "challenger.reason" not in registry.version_tags("2")


def test_a_version_without_its_training_dataset_cannot_be_shadowed(mlflow_resource, trained, splits):
    _register(mlflow_resource, trained, splits, 2)
    name = mlflow_resource.registered_model_name
    mlflow_resource.client().delete_model_version_tag(name, "2", "training_dataset_version")
    with pytest.raises(ChallengerError, match="v2 has no training_dataset_version tag"):
        set_challenger(mlflow_resource, "2", "try it")
    assert challenger_version(mlflow_resource) is None


def test_the_command_needs_a_version_or_clear_and_a_reason(registry, capsys):
    for argv in (["challenger", "--reason", "x"], ["challenger", "--version", "2"],
                 ["challenger", "--version", "2", "--clear", "--reason", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    assert challenger_version(registry) is None
