"""Rollback: point the `champion` alias back at a named registered version, with a reason.

The registry keeps the record: the version taken back gets `rollback.*` tags (from which version,
why, when), the version left gets `rolled_back.*` tags, and the registered model a `last_rollback`
tag. Batch scoring and the REST service read the alias, so they follow without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from fraud_pipelines.training.registry import CHAMPION_ALIAS, RegistryOperations

#: Longest reason kept in a tag (MLflow tag values are bounded).
MAX_REASON = 1_000


class RollbackError(ValueError):
    """The rollback cannot happen (unknown version, no reason, nothing to roll back); nothing was changed."""


@dataclass(frozen=True)
class Rollback:
    """What a rollback did: the alias moved from `previous` to `version`, for `reason`, at `at`."""

    version: str
    previous: str | None
    reason: str
    at: str

    def describe(self) -> str:
        return (f"champion alias moved from v{self.previous or 'none'} back to v{self.version} at {self.at}: "
                f"{self.reason}")


def rollback(mlflow: RegistryOperations, version: str | int, reason: str) -> Rollback:
    """Move the champion alias to registered `version` and record why; refuse unknown versions,
    an empty reason, the current champion, and versions that could not be served."""
    from mlflow.exceptions import MlflowException

    version, reason = str(version).strip().removeprefix("v"), " ".join(str(reason).split())
    name = mlflow.registered_model_name
    if not reason:
        raise RollbackError("a rollback needs a reason (--reason \"...\"): it is recorded in the registry")
    if not version.isdigit():
        raise RollbackError(f"version must be a registered version number, e.g. 3; got {version!r}")
    known = known_versions(mlflow)
    if version not in known:
        listed = ", ".join(f"v{v}" for v in known[-10:]) or "none"
        raise RollbackError(f"registered model {name!r} has no version {version} in "
                            f"{mlflow.registry_uri or mlflow.resolved_tracking_uri()}; known versions: {listed}")
    previous = mlflow.champion_version()
    if previous == version:
        raise RollbackError(f"v{version} is already the {CHAMPION_ALIAS} of {name!r}; nothing to roll back")
    tags = mlflow.version_tags(version)
    if "training_dataset_version" not in tags:
        raise RollbackError(f"v{version} has no training_dataset_version tag: batch scoring and the REST service "
                            "could not rebuild its features, so it cannot be the champion")
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    reason = reason[:MAX_REASON]
    client = mlflow.client()
    for key, value in {"rollback.from": previous or "none", "rollback.reason": reason, "rollback.at": at}.items():
        client.set_model_version_tag(name, version, key, value)
    if previous is not None:
        try:
            for key, value in {"rolled_back.to": version, "rolled_back.reason": reason, "rolled_back.at": at}.items():
                client.set_model_version_tag(name, previous, key, value)
        except MlflowException:  # the previous champion's version was deleted meanwhile: still roll back
            pass
    mlflow.set_champion(version)
    done = Rollback(version=version, previous=previous, reason=reason, at=at)
    client.set_registered_model_tag(name, "last_rollback", done.describe()[:5_000])
    return done


def known_versions(mlflow: RegistryOperations) -> list[str]:
    """The registered versions, oldest first (empty when nothing is registered)."""
    found = mlflow.client().search_model_versions(f"name = '{mlflow.registered_model_name}'")
    return [str(v) for v in sorted(int(v.version) for v in found)]
