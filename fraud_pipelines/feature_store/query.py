"""The immutable query builder: which features from which groups, joined on which keys.

`fg.select([...])` starts a query; `join` and `filter` return new queries and never change the
one they are called on. The left-most group is the spine (one output row per spine row);
joined groups are attached point-in-time (see `point_in_time`). Output column names: spine
columns as they are; a joined group's columns with its optional `prefix`, minus its join-key
columns (they equal the spine's). Two output columns with the same name are refused.
Filters compare features with values (`fg["amount"] > 10`, `&`, `|`, `~`, `.isin`, `.isnull`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .errors import InvalidInputError
from .sql import literal, quote


class GroupLike(Protocol):
    """What a query needs to know about a feature group."""

    name: str
    version: int
    primary_key: tuple[str, ...]
    event_time: str

    def column_names(self) -> list[str]: ...


@dataclass(frozen=True)
class FeatureRef:
    """A feature of a group, usable in filters: `fg["amount"] >= 10`."""

    group: str
    version: int
    column: str

    def _compare(self, op: str, value: Any) -> Condition:
        return Condition(op=op, feature=self, value=value)

    def __eq__(self, value: Any) -> Condition:  # type: ignore[override]
        return self.isnull() if value is None else self._compare("=", value)

    def __ne__(self, value: Any) -> Condition:  # type: ignore[override]
        return ~self.isnull() if value is None else self._compare("!=", value)

    def __lt__(self, value: Any) -> Condition:
        return self._compare("<", value)

    def __le__(self, value: Any) -> Condition:
        return self._compare("<=", value)

    def __gt__(self, value: Any) -> Condition:
        return self._compare(">", value)

    def __ge__(self, value: Any) -> Condition:
        return self._compare(">=", value)

    def __hash__(self) -> int:
        return hash((self.group, self.version, self.column))

    def isin(self, values: Sequence[Any]) -> Condition:
        """True where the feature is one of `values`."""
        if isinstance(values, (str, bytes)):
            raise InvalidInputError(f"isin needs a list of values, got {values!r}")
        return self._compare("in", list(values))

    def isnull(self) -> Condition:
        """True where the feature is missing."""
        return self._compare("is_null", None)


_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "is_null"})
_COMBINATIONS = frozenset({"and", "or", "not"})


@dataclass(frozen=True, eq=False)
class Condition:
    """A filter: a comparison, or `and`/`or`/`not` of conditions."""

    op: str
    feature: FeatureRef | None = None
    value: Any = None
    parts: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        # `op` reaches the SQL text as is, and conditions are read back from the catalog's JSON:
        # only the operators the builder makes are accepted, with the shape each one needs.
        if self.op in _COMBINATIONS:
            arity_ok = len(self.parts) == 1 if self.op == "not" else len(self.parts) >= 2
            if not arity_ok or self.feature is not None:
                raise InvalidInputError(f"filter condition {self.op!r} has {len(self.parts)} parts")
        elif self.op in _COMPARISONS:
            if self.feature is None or self.parts:
                raise InvalidInputError(f"filter condition {self.op!r} needs one feature and no parts")
            if self.op == "in" and (isinstance(self.value, (str, bytes)) or not isinstance(self.value, Sequence)):
                raise InvalidInputError(f"isin needs a list of values, got {self.value!r}")
        else:
            raise InvalidInputError(f"unknown filter operator {self.op!r}; known: "
                                    f"{', '.join(sorted(_COMPARISONS | _COMBINATIONS))}")

    def __and__(self, other: Condition) -> Condition:
        return Condition(op="and", parts=(self, other))

    def __or__(self, other: Condition) -> Condition:
        return Condition(op="or", parts=(self, other))

    def __invert__(self) -> Condition:
        return Condition(op="not", parts=(self,))

    def __bool__(self) -> bool:
        raise TypeError("combine filter conditions with &, | and ~ (not and/or/not)")

    def sql(self, column_of: Callable[[FeatureRef], str]) -> str:
        """The condition in SQL, with features mapped to output column names by `column_of`."""
        if self.op in ("and", "or"):
            return "(" + f" {self.op.upper()} ".join(p.sql(column_of) for p in self.parts) + ")"
        if self.op == "not":
            return f"(NOT {self.parts[0].sql(column_of)})"
        assert self.feature is not None
        column = quote(column_of(self.feature))
        if self.op == "is_null":
            return f"({column} IS NULL)"
        if self.op == "in":
            if not self.value:  # `IN ()` is no SQL; an empty list matches nothing, NULL stays unknown
                return f"(CASE WHEN {column} IS NULL THEN NULL ELSE FALSE END)"
            return f"({column} IN {literal(self.value)})"
        return f"({column} {self.op} {literal(self.value)})"

    def features(self) -> list[FeatureRef]:
        """Every feature the condition mentions."""
        if self.feature is not None:
            return [self.feature]
        return [f for p in self.parts for f in p.features()]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the feature view's catalog entry."""
        if self.parts:
            return {"op": self.op, "parts": [p.to_dict() for p in self.parts]}
        assert self.feature is not None
        value = self.value.isoformat() if hasattr(self.value, "isoformat") else self.value
        return {"op": self.op, "group": self.feature.group, "version": self.feature.version,
                "column": self.feature.column, "value": value, "is_time": hasattr(self.value, "isoformat")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Inverse of `to_dict`."""
        if "parts" in data:
            return cls(op=data["op"], parts=tuple(cls.from_dict(p) for p in data["parts"]))
        value = data["value"]
        if data.get("is_time"):
            from .sql import as_utc

            value = as_utc(value)
        return cls(op=data["op"], feature=FeatureRef(data["group"], data["version"], data["column"]), value=value)


@dataclass(frozen=True)
class Selection:
    """Some columns of one feature group."""

    group: GroupLike
    features: tuple[str, ...]


@dataclass(frozen=True)
class Join:
    """A group attached to the spine: spine columns `left_on` match its columns `right_on`."""

    selection: Selection
    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    prefix: str = ""

    def output_name(self, column: str) -> str:
        """This join's name for one of its group's columns."""
        return f"{self.prefix}{column}"


@dataclass(frozen=True)
class Query:
    """Spine selection, point-in-time joins and an optional filter; immutable."""

    selection: Selection
    joins: tuple[Join, ...] = ()
    condition: Condition | None = field(default=None)

    @classmethod
    def select(cls, group: GroupLike, features: Sequence[str] | None = None) -> Query:
        """Columns of `group` (all when None), checked against its schema."""
        available = group.column_names()
        wanted = list(available if features is None else features)
        if isinstance(features, str):
            raise InvalidInputError(f"select() takes a list of column names, not the string {features!r}")
        unknown = [f for f in wanted if f not in available]
        if unknown:
            raise InvalidInputError(f"{group.name} v{group.version} has no column(s) {unknown}; it has {available}")
        return cls(Selection(group, tuple(dict.fromkeys(wanted))))

    @property
    def spine(self) -> GroupLike:
        """The left-most group, which gives the output rows."""
        return self.selection.group

    def join(
        self,
        other: Query,
        on: Sequence[str] | None = None,
        *,
        left_on: Sequence[str] | None = None,
        right_on: Sequence[str] | None = None,
        prefix: str | None = None,
    ) -> Query:
        """A new query with `other`'s group attached point-in-time to this query's spine.

        Keys: `on` (same names on both sides), or `left_on`/`right_on`; by default the joined
        group's primary key, which the spine must also have.
        """
        if other.joins or other.condition is not None:
            raise InvalidInputError("join() takes a single-group query such as fg.select([...]); join it flat")
        group = other.spine
        spine_columns = self.spine.column_names()
        if on is not None and (left_on is not None or right_on is not None):
            raise InvalidInputError("give either on= or left_on=/right_on=, not both")
        if on is not None:
            left, right = list(on), list(on)
        elif left_on is not None or right_on is not None:
            left, right = list(left_on or []), list(right_on or [])
        else:
            left, right = list(group.primary_key), list(group.primary_key)
        if not left or len(left) != len(right):
            raise InvalidInputError(f"join with {group.name}: left_on {left} and right_on {right} must pair up")
        missing_left = [c for c in left if c not in spine_columns]
        missing_right = [c for c in right if c not in group.column_names()]
        if missing_left or missing_right:
            raise InvalidInputError(
                f"join with {group.name} v{group.version}: key(s) {missing_left} not in spine "
                f"{self.spine.name} and/or {missing_right} not in {group.name}"
            )
        joined = Join(other.selection, tuple(left), tuple(right), prefix or "")
        query = replace(self, joins=(*self.joins, joined))
        query.output_columns()  # refuse name collisions now, not at read time
        return query

    def filter(self, condition: Condition) -> Query:
        """A new query keeping only rows where `condition` holds (and-ed with any existing filter)."""
        if not isinstance(condition, Condition):
            raise InvalidInputError("filter() takes a condition such as fg['amount'] > 10")
        combined = condition if self.condition is None else self.condition & condition
        query = replace(self, condition=combined)
        for feature in combined.features():
            query.column_for(feature)
        return query

    def output_columns(self) -> list[tuple[int, str, str]]:
        """(source index: -1 spine else join index, source column, output name) in output order."""
        out = [(-1, c, c) for c in self.selection.features]
        for i, join in enumerate(self.joins):
            out += [(i, c, join.output_name(c)) for c in join.selection.features if c not in join.right_on]
        seen: dict[str, int] = {}
        clashes = []
        for source, _, name in out:
            if name in seen:
                clashes.append(name)
            seen[name] = source
        if clashes:
            raise InvalidInputError(
                f"output column name(s) {sorted(set(clashes))} appear more than once; give the join a "
                "prefix= or select fewer columns (select([...]) / select_except([...]))"
            )
        return out

    def column_for(self, feature: FeatureRef) -> str:
        """The output column a filter feature refers to."""
        sources = [(-1, self.selection)] + [(i, j.selection) for i, j in enumerate(self.joins)]
        for index, selection in sources:
            if (selection.group.name, selection.group.version) != (feature.group, feature.version):
                continue
            for source, column, name in self.output_columns():
                if source == index and column == feature.column:
                    return name
        raise InvalidInputError(
            f"filter on {feature.group} v{feature.version} '{feature.column}': "
            "that feature is not selected in the query"
        )

    def groups(self) -> list[GroupLike]:
        """Spine group first, then each joined group."""
        return [self.spine, *(j.selection.group for j in self.joins)]

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored with a feature view."""
        def selection(s: Selection) -> dict[str, Any]:
            return {"group": s.group.name, "version": s.group.version, "features": list(s.features)}

        return {
            "spine": selection(self.selection),
            "joins": [
                {**selection(j.selection), "left_on": list(j.left_on), "right_on": list(j.right_on), "prefix": j.prefix}
                for j in self.joins
            ],
            "filter": None if self.condition is None else self.condition.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], resolve: Callable[[str, int], GroupLike]) -> Query:
        """Rebuild a query, looking groups up with `resolve(name, version)`."""
        spine = data["spine"]
        query = cls(Selection(resolve(spine["group"], spine["version"]), tuple(spine["features"])))
        joins = tuple(
            Join(Selection(resolve(j["group"], j["version"]), tuple(j["features"])), tuple(j["left_on"]),
                 tuple(j["right_on"]), j.get("prefix", ""))
            for j in data["joins"]
        )
        condition = None if data.get("filter") is None else Condition.from_dict(data["filter"])
        return cls(query.selection, joins, condition)
