"""The entry point: `FeatureStore(root)` keeps everything under one root -- Delta tables
(`offline/`), the JSON catalog (`catalog/`) and, for a local root, the SQLite online store
(`online/`). The root may be a local folder or an object-store URI (`s3://...`, with delta-rs
`storage_options`); then pass an `online_store` explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, get_args

from .catalog import Catalog, filesystem_for, normalize_root
from .context import StoreContext, storage_options_of
from .errors import InvalidInputError, NotFoundError, SchemaMismatchError
from .feature_group import FeatureGroup
from .feature_view import FeatureView
from .online_store import OnlineStore
from .query import Query
from .specs import FeatureGroupSpec, FeatureViewSpec, ValidationPolicy, as_columns, check_name, suite_to_json
from .statistics import StatisticsConfig
from .transformations import BUILT_INS, to_state
from .view_plan import JoinEngine


class FeatureStore:
    """Feature groups, feature views and their training datasets under one root."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, str] | None = None,
        online_store: OnlineStore | None = None,
        query_memory_limit: str | None = None,
        join_engine: JoinEngine = "auto",
    ) -> None:
        """`query_memory_limit` (e.g. "4GB") bounds each DuckDB read; beyond it, joins spill to
        disk. Default: an eighth of physical memory, at least 1 GB. `join_engine` chooses who runs
        point-in-time joins: "auto" (NumPy/Arrow arrays where the view's shape suits, else DuckDB's
        ASOF join), or always "arrays" or "duckdb"; every engine follows the same rule."""
        if join_engine not in get_args(JoinEngine):
            raise InvalidInputError(f"join_engine {join_engine!r} is not one of {get_args(JoinEngine)}")
        self.root = normalize_root(root)
        options = storage_options_of(storage_options)
        filesystem, base = filesystem_for(self.root, options)
        self._context = StoreContext(
            root=self.root, catalog=Catalog(filesystem, f"{base}/catalog"), storage_options=options,
            online=online_store, transformations=dict(BUILT_INS), query_memory_limit=query_memory_limit,
            join_engine=join_engine,
        )

    def __repr__(self) -> str:
        return f"FeatureStore({self.root!r})"

    @property
    def online_store(self) -> OnlineStore:
        """The online store (SQLite under the root unless one was given)."""
        return self._context.online_store()

    # --- feature groups ------------------------------------------------------------------

    def get_or_create_feature_group(
        self,
        name: str,
        version: int = 1,
        *,
        primary_key: Sequence[str],
        event_time: str,
        partition_key: str | Sequence[str] | None = None,
        online_enabled: bool | None = None,
        description: str | None = None,
        statistics_config: StatisticsConfig | bool | None = None,
        expectation_suite: Any = None,
        validation_policy: ValidationPolicy | None = None,
    ) -> FeatureGroup:
        """The group `name` v`version`; created lazily by its first insert.

        If it exists, the primary key and event time (and partition key / online flag, when
        given) must match, else `SchemaMismatchError` (create version + 1); an online group may
        be turned offline-only (its online rows are dropped). Description,
        statistics config, expectation suite and validation policy, when given, replace the
        stored ones; left out (None), the stored ones stay.
        """
        key = _group_key(name, version)
        stored = self._context.catalog.read(key)
        if stored is None:
            spec = FeatureGroupSpec(
                name=name, version=version, primary_key=as_columns(primary_key, "primary_key"),
                event_time=event_time, partition_key=as_columns(partition_key, "partition_key"),
                online_enabled=bool(online_enabled), description=description or "",
                statistics_config=StatisticsConfig.coerce(statistics_config),
                expectations=suite_to_json(expectation_suite), validation_policy=validation_policy or "always",
            )
            return FeatureGroup(spec=spec, context=self._context)
        existing = FeatureGroupSpec.from_dict(stored)
        given: dict[str, Any] = {"primary_key": as_columns(primary_key, "primary_key"), "event_time": event_time}
        if partition_key is not None:
            given["partition_key"] = as_columns(partition_key, "partition_key")
        updates: dict[str, Any] = {}
        if online_enabled is not None and existing.online_enabled and not online_enabled:
            # Turning the online copy off loses nothing (offline keeps every row): its rows are
            # dropped so nothing serves values that stop being updated. The reverse would need
            # an online backfill and stays a new version.
            FeatureGroup(spec=existing, context=self._context).drop_online()
            updates["online_enabled"] = False
        elif online_enabled is not None:
            given["online_enabled"] = bool(online_enabled)
        differ = {k: (getattr(existing, k), v) for k, v in given.items() if getattr(existing, k) != v}
        if differ:
            raise SchemaMismatchError(
                f"feature group {name} v{version} exists with other settings (stored, given): {differ}; "
                f"use get_feature_group('{name}', {version}) or create version {version + 1}"
            )
        if description is not None:
            updates["description"] = description
        if statistics_config is not None:
            updates["statistics_config"] = StatisticsConfig.coerce(statistics_config)
        if expectation_suite is not None:
            updates["expectations"] = suite_to_json(expectation_suite)
        if validation_policy is not None:
            updates["validation_policy"] = validation_policy
        spec = replace(existing, **updates)
        if spec != existing:
            self._context.catalog.write(key, spec.to_dict())
        return FeatureGroup(spec=spec, context=self._context)

    def get_feature_group(self, name: str, version: int = 1) -> FeatureGroup:
        """An existing group (one that has had an insert)."""
        check_name("feature group", name, version)
        stored = self._context.catalog.read(_group_key(name, version))
        if stored is None:
            known = self.feature_groups()
            raise NotFoundError(f"no feature group {name} v{version} under {self.root}; existing: {known}")
        return FeatureGroup(spec=FeatureGroupSpec.from_dict(stored), context=self._context)

    def feature_groups(self) -> list[tuple[str, int]]:
        """(name, version) of every stored feature group."""
        return self._list("feature_groups")

    # --- feature views -------------------------------------------------------------------

    def get_or_create_feature_view(
        self,
        name: str,
        version: int = 1,
        *,
        query: Query,
        labels: Sequence[str] = (),
        transformation_functions: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> FeatureView:
        """The view `name` v`version`; if it exists its definition must equal this one."""
        if not isinstance(query, Query):
            raise InvalidInputError("query must be built with fg.select(...)/select_all() and .join(...)")
        spec = FeatureViewSpec(
            name=name, version=version, query=query.to_dict(), labels=as_columns(labels, "labels"),
            transformations=self._transformation_specs(query, labels, transformation_functions or {}),
            description=description,
        )
        view = FeatureView(spec=spec, query=query, context=self._context)
        key = _view_key(name, version)
        if not self._context.catalog.create(key, spec.to_dict()):
            stored = FeatureViewSpec.from_dict(self._context.catalog.read(key) or {})
            if stored.definition() != spec.definition():
                raise SchemaMismatchError(
                    f"feature view {name} v{version} exists with another query, labels or transformations; "
                    f"use get_feature_view('{name}', {version}) or create version {version + 1}"
                )
        return view

    def get_feature_view(self, name: str, version: int = 1) -> FeatureView:
        """An existing view, its query rebuilt from the catalog."""
        check_name("feature view", name, version)
        stored = self._context.catalog.read(_view_key(name, version))
        if stored is None:
            raise NotFoundError(
                f"no feature view {name} v{version} under {self.root}; existing: {self.feature_views()}"
            )
        spec = FeatureViewSpec.from_dict(stored)
        query = Query.from_dict(spec.query, self.get_feature_group)
        return FeatureView(spec=spec, query=query, context=self._context)

    def feature_views(self) -> list[tuple[str, int]]:
        """(name, version) of every stored feature view."""
        return self._list("feature_views")

    # --- transformation functions --------------------------------------------------------

    def register_transformation(self, name: str, function_class: type) -> None:
        """Make a custom transformation class usable by name in feature views of this store.

        The class follows scikit-learn's rules (params in __init__, `fit` returns self and sets
        attributes ending in '_', `transform` never learns); its fitted state must be JSON.
        """
        if not isinstance(function_class, type) or not all(
            callable(getattr(function_class, m, None)) for m in ("fit", "transform")
        ):
            raise InvalidInputError(f"transformation '{name}' must be a class with fit() and transform()")
        if name in BUILT_INS and self._context.transformations.get(name) is not function_class:
            raise InvalidInputError(f"'{name}' is a built-in transformation; register yours under another name")
        self._context.transformations[name] = function_class

    def _transformation_specs(
        self, query: Query, labels: Sequence[str], functions: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        names = [out for _, _, out in query.output_columns()]
        specs = {}
        registry = self._context.transformations
        for feature, function in functions.items():
            if feature not in names or feature in labels:
                raise InvalidInputError(f"transformation for '{feature}': not a feature of the query ({names})")
            if isinstance(function, str):
                if function not in registry:
                    raise InvalidInputError(
                        f"transformation '{function}' for '{feature}' is unknown; known: {sorted(registry)}"
                    )
                specs[feature] = {"function": function, "params": {}}
                continue
            registered = [n for n, cls in registry.items() if type(function) is cls]
            if not registered:
                raise InvalidInputError(
                    f"transformation for '{feature}' is a {type(function).__name__}, which is not registered; "
                    "call register_transformation(name, cls) first"
                )
            state = to_state(function, registered[0])
            specs[feature] = {"function": state["function"], "params": state["params"]}
        return specs

    def _list(self, folder: str) -> list[tuple[str, int]]:
        catalog = self._context.catalog
        return sorted(
            (name, int(key.rsplit("/v", 1)[1][: -len(".json")]))
            for name in catalog.folders(folder)
            for key in catalog.list(f"{folder}/{name}")
        )


def _group_key(name: str, version: int) -> str:
    return f"feature_groups/{name}/v{version}.json"


def _view_key(name: str, version: int) -> str:
    return f"feature_views/{name}/v{version}.json"
