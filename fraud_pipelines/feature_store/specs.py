"""Feature group and feature view specs: what the catalog stores about them, as frozen values.

Expectation suites are kept as their Great Expectations 1.x configurations (type, kwargs,
meta) so any process can rebuild them; GE itself is imported only when it has to judge rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidInputError
from .expectations import Expectation, expectations_of
from .statistics import StatisticsConfig

ValidationPolicy = Literal["always", "strict"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(kind: str, name: str, version: int) -> None:
    """Names become folder and table names: letters, digits, underscores; versions are >= 1."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(f"{kind} name {name!r} must match [A-Za-z_][A-Za-z0-9_]*")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInputError(f"{kind} {name}: version must be an integer >= 1, got {version!r}")


def as_columns(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    """A column list from one name, a list of names, or None (empty)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    columns = tuple(value)
    if not all(isinstance(c, str) and c for c in columns):
        raise InvalidInputError(f"{what} must be column names, got {value!r}")
    return columns


def suite_to_json(suite: Any) -> tuple[dict[str, Any], ...]:
    """A suite (`Expectation` specs, GE configuration dicts, GE Expectations or a GE ExpectationSuite)
    -> the JSON configurations the catalog stores (type, kwargs, meta), the same for specs as for the
    GE objects they describe."""
    configs = []
    for item in expectations_of(suite):
        if isinstance(item, Mapping):
            configs.append(dict(item))
        elif isinstance(item, Expectation):
            configs.append(item.to_json())
        elif hasattr(item, "configuration"):
            config = item.configuration.to_json_dict()
            configs.append({k: config[k] for k in ("type", "kwargs", "meta") if k in config})
        else:
            raise InvalidInputError(f"expectation_suite holds {item!r}, not an expectation")
    return tuple(configs)


def suite_from_json(configs: Sequence[Mapping[str, Any]]) -> list[Expectation]:
    """Inverse of `suite_to_json`: the stored configurations as `Expectation` specs (no GE import)."""
    return [Expectation.of(c) for c in configs]


@dataclass(frozen=True, kw_only=True)
class FeatureGroupSpec:
    """Everything that defines a feature group version except its rows."""

    name: str
    version: int
    primary_key: tuple[str, ...]
    event_time: str
    partition_key: tuple[str, ...] = ()
    online_enabled: bool = False
    description: str = ""
    statistics_config: StatisticsConfig = field(default_factory=StatisticsConfig)
    expectations: tuple[dict[str, Any], ...] = ()
    validation_policy: ValidationPolicy = "always"

    def __post_init__(self) -> None:
        check_name("feature group", self.name, self.version)
        if not self.primary_key:
            raise InvalidInputError(f"feature group {self.name}: primary_key must name at least one column")
        if not isinstance(self.event_time, str) or not self.event_time:
            raise InvalidInputError(f"feature group {self.name}: event_time must name a column")
        if self.event_time in self.primary_key or self.event_time in self.partition_key:
            raise InvalidInputError(
                f"feature group {self.name}: event_time '{self.event_time}' cannot also be a primary or partition key"
            )
        if self.validation_policy not in ("always", "strict"):
            raise InvalidInputError(
                f"feature group {self.name}: validation_policy must be 'always' or 'strict', "
                f"not {self.validation_policy!r}"
            )

    @property
    def table_name(self) -> str:
        """Name of its Delta table and online table."""
        return f"{self.name}_v{self.version}"

    def structure(self) -> dict[str, Any]:
        """The fields that cannot change within a version."""
        return {"primary_key": list(self.primary_key), "event_time": self.event_time,
                "partition_key": list(self.partition_key), "online_enabled": self.online_enabled}

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the catalog."""
        return {"name": self.name, "version": self.version, **self.structure(), "description": self.description,
                "statistics_config": self.statistics_config.to_dict(), "expectations": list(self.expectations),
                "validation_policy": self.validation_policy}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureGroupSpec:
        """Inverse of `to_dict`."""
        return cls(
            name=data["name"], version=data["version"], primary_key=tuple(data["primary_key"]),
            event_time=data["event_time"], partition_key=tuple(data.get("partition_key", ())),
            online_enabled=data.get("online_enabled", False), description=data.get("description", ""),
            statistics_config=StatisticsConfig.from_dict(data.get("statistics_config", {"enabled": True})),
            expectations=tuple(data.get("expectations", ())),
            validation_policy=data.get("validation_policy", "always"),
        )


@dataclass(frozen=True, kw_only=True)
class FeatureViewSpec:
    """A feature view: a query, its label columns and its transformation functions."""

    name: str
    version: int
    query: dict[str, Any]
    labels: tuple[str, ...] = ()
    transformations: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        check_name("feature view", self.name, self.version)

    def definition(self) -> dict[str, Any]:
        """The fields that define what the view returns (compared by get_or_create)."""
        return {"query": self.query, "labels": list(self.labels), "transformations": self.transformations}

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the catalog."""
        return {"name": self.name, "version": self.version, "description": self.description, **self.definition()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureViewSpec:
        """Inverse of `to_dict`."""
        return cls(name=data["name"], version=data["version"], query=data["query"],
                   labels=tuple(data.get("labels", ())), transformations=dict(data.get("transformations", {})),
                   description=data.get("description", ""))
