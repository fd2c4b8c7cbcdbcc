"""Expectations as plain data: a Great Expectations 1.x expectation's type and kwargs, frozen.

A suite declared this way is built, stored and checked by `quick_checks` without importing GE (a
~4 s import); `to_ge` makes the GE object only when GE has to judge. Kwargs are written as GE's own
configuration holds them (e.g. number bounds of `expect_column_values_to_be_between` as floats), so
the fast checks read exactly the values GE would compare with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from .errors import InvalidInputError


@dataclass(frozen=True)
class Expectation:
    """One expectation: GE's snake_case type (e.g. "expect_column_values_to_be_between") and its kwargs."""

    type: str
    kwargs: Mapping[str, Any]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type.startswith("expect_"):
            raise InvalidInputError(f"expectation type {self.type!r} is not a Great Expectations type name")
        object.__setattr__(self, "kwargs", MappingProxyType({k: _frozen(v) for k, v in self.kwargs.items()}))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def to_config(self) -> dict[str, Any]:
        """GE's configuration dict (type, kwargs, meta) with Python values (lists, datetimes)."""
        return {"type": self.type, "kwargs": {k: _thawed(v) for k, v in self.kwargs.items()}, "meta": dict(self.meta)}

    def to_json(self) -> dict[str, Any]:
        """The configuration as JSON values, as GE's `to_json_dict` writes it (datetimes in ISO form)."""
        config = self.to_config()
        return {**config, "kwargs": {k: _json(v) for k, v in config["kwargs"].items()}}

    def to_ge(self) -> Any:
        """The Great Expectations expectation object (imports GE)."""
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        return ExpectationConfiguration(**self.to_config()).to_domain_obj()

    @classmethod
    def of(cls, item: Any) -> Expectation:
        """An Expectation from an Expectation, a configuration dict, or a GE expectation object."""
        if isinstance(item, Expectation):
            return item
        if isinstance(item, Mapping):
            if "type" not in item:
                raise InvalidInputError(f"expectation configuration {dict(item)!r} has no 'type'")
            return cls(item["type"], dict(item.get("kwargs") or {}), dict(item.get("meta") or {}))
        config = getattr(item, "configuration", None)
        if config is None or not hasattr(config, "type"):
            raise InvalidInputError(f"{item!r} is not an expectation (an Expectation, a GE configuration dict "
                                    "or a Great Expectations expectation)")
        return cls(config.type, dict(config.kwargs), dict(config.meta or {}))


def expect(kind: str, /, **kwargs: Any) -> Expectation:
    """Shorthand: `expect("expect_column_values_to_not_be_null", column="tid")`."""
    return Expectation(kind, kwargs)


def expectations_of(suite: Any) -> list[Any]:
    """The items of a suite given as a list of expectations or an object with `.expectations` (GE's suite)."""
    if suite is None:
        return []
    if not isinstance(suite, (Sequence, Mapping)) and hasattr(suite, "expectations"):
        return list(suite.expectations)
    return list(suite)


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    return [_thawed(v) for v in value] if isinstance(value, tuple) else value


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value
