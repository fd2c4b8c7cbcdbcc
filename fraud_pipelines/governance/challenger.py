"""The shadow challenger: a registered version other than the champion, named by the registry's
`challenger` alias. It is scored beside the champion and compared with it; it decides nothing, and
only the registry's promotion rule can make it champion.

Setting or clearing the alias records why in the registry, as a rollback does: `challenger.reason`,
`challenger.at` (and `challenger.cleared_*` when taken out) on the version, `last_challenger` on the
registered model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

CHALLENGER_ALIAS = "challenger"
#: Longest reason kept in a tag (MLflow tag values are bounded).
MAX_REASON = 1_000


class ChallengerError(ValueError):
    """The challenger alias cannot be set as asked (unknown version, the champion, no reason); nothing changed."""


@dataclass(frozen=True)
class ChallengerChange:
    """What a set or clear did: the alias went from `previous` to `version` (None: removed)."""

    version: str | None
    previous: str | None
    reason: str
    at: str

    def describe(self) -> str:
        if self.version is None:
            return (f"challenger alias removed from v{self.previous} at {self.at}: {self.reason}" if self.previous
                    else "no version had the challenger alias; nothing changed")
        moved = f" (was v{self.previous})" if self.previous and self.previous != self.version else ""
        return f"challenger alias set on v{self.version}{moved} at {self.at}: {self.reason}"


def challenger_version(registry: Any) -> str | None:
    """The version the `challenger` alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        registered = registry.client().get_registered_model(registry.registered_model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = registered.aliases.get(CHALLENGER_ALIAS)
    return None if version is None else str(version)


def set_challenger(registry: Any, version: str | int, reason: str) -> ChallengerChange:
    """Put registered `version` in shadow and record `reason`. Refused, with nothing changed: an
    empty reason, an unknown version, the champion, a version without its training dataset tag
    (shadow scoring could not rebuild its features)."""
    from fraud_pipelines.training.rollback import known_versions

    version, reason = _version(version), _reason(reason)
    name = registry.registered_model_name
    known = known_versions(registry)
    if version not in known:
        shown = ", ".join(known[-20:]) or "none"
        raise ChallengerError(f"v{version} is not a registered version of {name!r} (registered: {shown})")
    if version == registry.champion_version():
        raise ChallengerError(f"v{version} is the champion; a challenger must be another registered version")
    if "training_dataset_version" not in registry.version_tags(version):
        raise ChallengerError(f"v{version} has no training_dataset_version tag: shadow scoring could not rebuild "
                              "its features")
    previous = challenger_version(registry)
    change = ChallengerChange(version, previous, reason, _now())
    client = registry.client()
    for key, value in {"challenger.reason": reason, "challenger.at": change.at}.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHALLENGER_ALIAS, version)
    client.set_registered_model_tag(name, "last_challenger", change.describe()[:5_000])
    return change


def clear_challenger(registry: Any, reason: str) -> ChallengerChange:
    """Take the challenger out of shadow (its registered version stays) and record `reason`; with no
    challenger, nothing changes."""
    reason = _reason(reason)
    previous = challenger_version(registry)
    change = ChallengerChange(None, previous, reason, _now())
    if previous is None:
        return change
    name = registry.registered_model_name
    client = registry.client()
    for key, value in {"challenger.cleared_reason": reason, "challenger.cleared_at": change.at}.items():
        client.set_model_version_tag(name, previous, key, value)
    client.delete_registered_model_alias(name, CHALLENGER_ALIAS)
    client.set_registered_model_tag(name, "last_challenger", change.describe()[:5_000])
    return change


def _version(version: str | int) -> str:
    text = str(version).strip().removeprefix("v")
    if not text.isdigit():
        raise ChallengerError(f"version must be a registered version number, e.g. 3; got {str(version)[:40]!r}")
    return str(int(text))


def _reason(reason: str) -> str:
    text = " ".join(str(reason).split())
    if not text:
        raise ChallengerError("the challenger alias needs a reason (--reason \"...\"): it is recorded in the registry")
    return text[:MAX_REASON]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
