"""The shadow challenger: a registered version other than the champion, named by the registry's
`challenger` alias. It is scored beside the champion and compared with it; it decides nothing, and
only the registry's promotion rule can make it champion."""

from __future__ import annotations

from typing import Any

CHALLENGER_ALIAS = "challenger"


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


def set_challenger(registry: Any, version: str) -> None:
    """Put registered `version` in shadow. The champion cannot be its own challenger."""
    version = str(version)
    known = registry.latest_versions(1_000)
    if version not in known:
        shown = ", ".join(sorted(known, key=int)[-20:]) or "none"
        raise ValueError(f"v{version} is not a registered version of {registry.registered_model_name!r} "
                         f"(registered: {shown})")
    client = registry.client()
    if version == registry.champion_version():
        raise ValueError(f"v{version} is the champion; a challenger must be another registered version")
    client.set_registered_model_alias(registry.registered_model_name, CHALLENGER_ALIAS, version)


def clear_challenger(registry: Any) -> None:
    """Take the challenger out of shadow (its registered version stays)."""
    registry.client().delete_registered_model_alias(registry.registered_model_name, CHALLENGER_ALIAS)
