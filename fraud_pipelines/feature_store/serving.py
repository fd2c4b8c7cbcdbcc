"""Online feature vectors: look up each joined group's latest row by key, merge the request's own
(passed) features, apply the fitted transformations, in the order of the training columns.

Everything that does not depend on the request is prepared once in `VectorServer.__init__`
(SQL statements, key encoders, column positions, transformation closures), so the
single-vector path is a few dictionary reads, one indexed SQLite SELECT per group and plain
Python arithmetic; no pandas.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from .errors import InvalidInputError
from .online_store import EPOCH, OnlineStore, OnlineTableSpec
from .sql import as_utc
from .transformations import (
    LabelEncoder,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
    output_names,
    transform_value,
)
from .view_plan import ViewPlan

ReturnType = Literal["list", "dict", "pandas"]


@dataclass(frozen=True)
class _Source:
    """One online group: how to build its key from an entry and where its values go."""

    name: str
    entry_keys: tuple[str, ...]
    encoders: tuple[Callable[[Any], Any], ...]
    positions: tuple[int, ...]  # raw feature positions its columns fill
    feature_names: tuple[str, ...]
    table: OnlineTableSpec
    columns: tuple[str, ...]
    fetch: Callable[[tuple[Any, ...]], tuple[Any, ...] | None]
    fetch_many: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...] | None]]
    fetch_values: Callable[[list[Any]], list[tuple[Any, ...] | None]] | None  # one-column keys as plain values


class VectorServer:
    """Prepared online reads for one feature view and training dataset version."""

    def __init__(
        self, plan: ViewPlan, groups: Sequence[Any], online: OnlineStore, functions: Mapping[str, Any]
    ) -> None:
        kept = plan.kept(primary_key=False, event_time=False)
        self.raw_features = [c.name for c in kept]
        position = {c.name: i for i, c in enumerate(kept)}
        self.sources: list[_Source] = []
        covered: set[str] = set()
        for index, group in enumerate(groups):
            mine = [c for c in kept if c.source == index - 1]
            if not mine or not group.online_enabled:
                continue
            if index == 0:
                entry_keys, group_keys = tuple(group.primary_key), tuple(group.primary_key)
            else:
                join = plan.query.joins[index - 1]
                entry_keys, group_keys = join.left_on, join.right_on
                if set(group_keys) != set(group.primary_key):
                    raise InvalidInputError(
                        f"feature group {group.name} v{group.version} is joined on {list(group_keys)} but its online "
                        f"rows are keyed by its primary key {list(group.primary_key)}; join it on the primary key"
                    )
            table = group.online_table()
            online.update(table)
            ordered = [entry_keys[group_keys.index(k)] for k in table.key_columns]
            columns = tuple(c.column for c in mine)
            self.sources.append(_Source(
                name=f"{group.name} v{group.version}", entry_keys=tuple(ordered),
                encoders=tuple(_key_encoder(table.schema.field(k).type) for k in table.key_columns),
                positions=tuple(position[c.name] for c in mine), feature_names=tuple(c.name for c in mine),
                table=table, columns=columns, fetch=online.lookup(table, columns),
                fetch_many=online.batch_lookup(table, columns),
                fetch_values=online.value_lookup(table, columns) if len(table.key_columns) == 1 else None,
            ))
            covered |= {c.name for c in mine}
        self._joined = self._joined_reads(online)
        self.passed_only = [name for name in self.raw_features if name not in covered]
        self.functions = [functions.get(name) for name in self.raw_features]
        self.columns = [out for name, f in zip(self.raw_features, self.functions)
                        for out in (output_names(f, name) if f is not None else [name])]
        self._index = position
        self._steps = [(i, _value_step(f)) for i, f in enumerate(self.functions) if f is not None]
        self._column_steps = [(i, _column_step(self.functions[i], step)) for i, step in self._steps]
        self._passed_positions: dict[tuple[str, ...], list[int]] = {}

    def vector(self, entry: Mapping[str, Any], passed: Mapping[str, Any] | None, return_type: ReturnType) -> Any:
        """One feature vector in the training column order."""
        values: list[Any] = [None] * len(self.raw_features)
        for source in self.sources:
            key = self._key(source, entry, passed)
            if key is None:
                continue
            row = source.fetch(key)
            if row is not None:
                for position, value in zip(source.positions, row):
                    values[position] = value
        return self._finish(values, passed, return_type)

    def vectors(self, entries: Sequence[Mapping[str, Any]], passed: Sequence[Mapping[str, Any] | None] | None,
                return_type: ReturnType) -> Any:
        """Many vectors, column by column: one batched read per group (or one for all the groups
        sharing an entry key, where the store offers it), passed features placed as
        whole columns when every entry passes the same names, and each transformation applied to a
        whole column at once (the same operations as `vector`, value by value)."""
        passed_list = list(passed) if passed is not None else [None] * len(entries)
        if len(passed_list) != len(entries):
            raise InvalidInputError(f"{len(entries)} entries but {len(passed_list)} passed_features")
        count = len(entries)
        columns: list[Any] = [(None,) * count] * len(self.raw_features)
        read: set[int] = set()
        for members, fetch in self._joined if count else ():
            values = self._key_values(self.sources[members[0]], entries)
            if values is None:  # left to the source-by-source reads below, which name what is wrong
                continue
            found = iter(zip(*fetch(values)))
            for index in members:
                for position in self.sources[index].positions:
                    columns[position] = next(found)
            read.update(members)
        for index, source in enumerate(self.sources):
            if index in read:
                continue
            blank = (None,) * len(source.positions)
            values = self._key_values(source, entries)
            if values is not None:  # the usual one-column key, in every entry
                found = [row or blank for row in source.fetch_values(values)]
                for position, column in zip(source.positions, zip(*found)):
                    columns[position] = column
                continue
            keys = [self._key(source, e, p) for e, p in zip(entries, passed_list)]
            present = [k for k in keys if k is not None]
            if len(present) == count:  # every entry has the key: rows come back in entry order
                found = [row or blank for row in source.fetch_many(present)]
            else:
                fetched = iter(source.fetch_many(present))
                found = [(next(fetched) or blank) if key is not None else blank for key in keys]
            for position, column in zip(source.positions, zip(*found)):
                columns[position] = column
        columns = self._place_passed(columns, passed_list)
        out = self._transform_columns(columns) if count else []
        if return_type == "list":
            return out
        if return_type == "dict":
            return [dict(zip(self.columns, v)) for v in out]
        if return_type == "pandas":
            return pd.DataFrame(out, columns=self.columns)
        raise InvalidInputError(f"return_type must be 'list', 'dict' or 'pandas', not {return_type!r}")

    def _joined_reads(self, online: OnlineStore) -> list[tuple[list[int], Callable[[list[Any]], list[Any]]]]:
        """Sources read by one statement: those keyed by the same entry key (same key type), when the
        store offers `joined_value_lookup` for them; as (source indices, reader)."""
        by_key: dict[tuple[str, str], list[int]] = {}
        for index, source in enumerate(self.sources):
            if source.fetch_values is not None:
                kind = str(source.table.schema.field(source.table.key_columns[0]).type)
                by_key.setdefault((source.entry_keys[0], kind), []).append(index)
        joined = []
        for members in by_key.values():
            if len(members) > 1:
                fetch = online.joined_value_lookup([(self.sources[i].table, self.sources[i].columns) for i in members])
                if fetch is not None:
                    joined.append((members, fetch))
        return joined

    def _place_passed(self, columns: list[Any], passed: list[Mapping[str, Any] | None]) -> list[Any]:
        """Passed features over the online values: whole columns when every entry passes the same
        names (in any order: columns are placed by name; the usual batch), entry by entry otherwise."""
        first = passed[0] if passed else None
        names = tuple(first) if first else ()
        if not names and not any(passed):
            if self.passed_only:
                self._positions_of({})
            return columns
        if names:
            placed = None
            if all(type(p) is dict for p in passed):  # a plain dict raises on a missing name, inserts nothing
                try:  # every entry holds each name, and no more names in all: the same names everywhere
                    placed = [[p[name] for p in passed] for name in names]
                except KeyError:
                    pass
                same = placed is not None and sum(map(len, passed)) == len(names) * len(passed)
            else:
                same = all(p is not None and p.keys() == first.keys() for p in passed)
                placed = [[p[name] for p in passed] for name in names] if same else None
            if same:
                for position, column in zip(self._positions_of(first), placed):
                    columns[position] = column
                return columns
        rows = [list(values) for values in zip(*columns)]
        for values, p in zip(rows, passed):
            self._merge_passed(values, p)
        return list(zip(*rows))

    def _transform_columns(self, columns: list[Any]) -> list[list[Any]]:
        """The fitted transformations over whole columns, back as rows of output values."""
        expanded: set[int] = set()  # positions whose function gave several outputs (one-hot): tuples
        for position, transform in self._column_steps:
            column = columns[position] = transform(columns[position])
            if isinstance(column[0], tuple):
                expanded.add(position)
        if expanded:
            columns = [out for position, column in enumerate(columns)
                       for out in (zip(*column) if position in expanded else (column,))]
        return list(map(list, zip(*columns)))

    def _key_values(self, source: _Source, entries: Sequence[Mapping[str, Any]]) -> list[Any] | None:
        """Every entry's key value for a one-column key, in one comprehension; None when the source
        has no such reader or an entry lacks the key or holds a bad one (the entry-by-entry path then
        names what is wrong, or takes the group's features from passed_features)."""
        if source.fetch_values is None:
            return None
        name, encode = source.entry_keys[0], source.encoders[0]
        try:
            return [encode(entry[name]) for entry in entries]
        except (KeyError, TypeError, ValueError):
            return None

    def _key(
        self, source: _Source, entry: Mapping[str, Any], passed: Mapping[str, Any] | None
    ) -> tuple[Any, ...] | None:
        try:
            return tuple(encode(entry[k]) for encode, k in zip(source.encoders, source.entry_keys))
        except KeyError:
            if passed is not None and all(name in passed for name in source.feature_names):
                return None  # everything this group would give is passed in
            missing = [k for k in source.entry_keys if k not in entry]
            raise InvalidInputError(
                f"entry {dict(entry)} lacks key(s) {missing} needed to look up {source.name} "
                f"(or pass its features {list(source.feature_names)} in passed_features)"
            ) from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"entry {dict(entry)}: bad key for {source.name}: {exc}") from exc

    def _merge_passed(self, values: list[Any], passed: Mapping[str, Any] | None) -> None:
        if passed:
            for position, value in zip(self._positions_of(passed), passed.values()):
                values[position] = value
        elif self.passed_only:
            self._positions_of({})

    def _finish(self, values: list[Any], passed: Mapping[str, Any] | None, return_type: ReturnType) -> Any:
        self._merge_passed(values, passed)
        expanded: list[int] = []  # positions whose function gave several outputs (one-hot)
        for position, step in self._steps:
            result = values[position] = step(values[position])
            if isinstance(result, tuple):
                expanded.append(position)
        out = values
        if expanded:
            out, start = [], 0
            for position in expanded:
                out.extend(values[start:position])
                out.extend(values[position])
                start = position + 1
            out.extend(values[start:])
        if return_type == "list":
            return out
        if return_type == "dict":
            return dict(zip(self.columns, out))
        if return_type == "pandas":
            return pd.DataFrame([out], columns=self.columns)
        raise InvalidInputError(f"return_type must be 'list', 'dict' or 'pandas', not {return_type!r}")

    def _positions_of(self, passed: Mapping[str, Any]) -> list[int]:
        """Raw feature positions of the passed names, checked once per set of names: each must be
        a feature of the view, and together they must cover the features with no online source."""
        names = tuple(passed)
        positions = self._passed_positions.get(names)
        if positions is not None:
            return positions
        unknown = [name for name in names if name not in self._index]
        if unknown:
            raise InvalidInputError(f"passed feature '{unknown[0]}' is not a feature of this view: {self.raw_features}")
        missing = [n for n in self.passed_only if n not in passed]
        if missing:
            raise InvalidInputError(
                f"feature(s) {missing} have no online source (their group is not online-enabled or is the spine); "
                "give them in passed_features"
            )
        positions = [self._index[name] for name in names]
        if len(self._passed_positions) < 1024:
            self._passed_positions[names] = positions
        return positions


def _value_step(function: Any) -> Callable[[Any], Any]:
    """`transform_value` bound to one fitted function; the built-in encoders' answers for string
    values are remembered (a pure lookup of fitted state, a few thousand categories at most)."""
    call = function.transform_value if hasattr(function, "transform_value") else partial(transform_value, function)
    if not isinstance(function, (LabelEncoder, OneHotEncoder)):
        return call
    remembered: dict[str, Any] = {}

    def encoded(value: Any) -> Any:
        if type(value) is not str:
            return call(value)
        result = remembered.get(value)
        if result is None:
            result = call(value)
            if len(remembered) < 10_000:
                remembered[value] = result
        return result
    return encoded


def _column_step(function: Any, value_step: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """A whole column through one fitted function. For the built-ins a comprehension that gives
    what `transform_value` gives for every value it does not refuse (the same float operations,
    the same dictionary lookups); a column it refuses (pd.NA, unhashable values, ...) and custom
    functions go value by value, which also names what is wrong."""
    def by_value(values: Sequence[Any]) -> list[Any]:
        return [value_step(v) for v in values]

    if type(function) in (MinMaxScaler, StandardScaler, RobustScaler):
        shift = function.min_ if isinstance(function, MinMaxScaler) else (
            function.mean_ if isinstance(function, StandardScaler) else function.center_)
        scale, nan = function.scale_, math.nan

        def scaled(values: Sequence[Any]) -> list[Any]:
            try:  # None and every NaN-like value (v != v) are missing, as in transform_value
                return [nan if v is None or v != v else (float(v) - shift) * scale for v in values]
            except (TypeError, ValueError):
                return by_value(values)
        return scaled
    if type(function) in (LabelEncoder, OneHotEncoder):
        index = function._index()
        if isinstance(function, LabelEncoder):
            codes: dict[Any, Any] = dict(index)
            unknown: Any = -1
        else:
            width = len(function.categories_)
            codes = {c: tuple(1 if i == hot else 0 for i in range(width)) for c, hot in index.items()}
            unknown = (0,) * width

        def encoded(values: Sequence[Any]) -> list[Any]:
            try:  # missing values are never categories (fit drops them): they get `unknown` too
                return [codes.get(v, unknown) for v in values]
            except TypeError:
                return by_value(values)
        return encoded
    return by_value


def _key_encoder(kind: pa.DataType) -> Callable[[Any], Any]:
    """Entry key values as the online store holds them (Python ints, strings, microseconds)."""
    if pa.types.is_integer(kind):
        return int
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return str
    if pa.types.is_timestamp(kind):
        return lambda v: (as_utc(v) - EPOCH) // dt.timedelta(microseconds=1)
    if pa.types.is_date(kind):
        return lambda v: (v - dt.date(1970, 1, 1)).days
    return lambda v: v
