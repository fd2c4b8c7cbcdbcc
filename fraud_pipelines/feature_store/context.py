"""Where a feature store keeps things: shared by the store, its groups, views and datasets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

from .catalog import Catalog, is_local_uri
from .errors import FeatureStoreError
from .offline_store import DeltaTableStore, connect
from .online_store import OnlineStore
from .sqlite_online_store import SQLiteOnlineStore


@dataclass(kw_only=True)
class StoreContext:
    """Root URI, storage options, catalog and online store of one feature store."""

    root: str
    catalog: Catalog
    storage_options: dict[str, str] = field(default_factory=dict)
    online: OnlineStore | None = None
    transformations: dict[str, type] = field(default_factory=dict)
    query_memory_limit: str | None = None
    #: Who runs point-in-time joins: "auto" (the array join where its shape suits, else DuckDB), "arrays", "duckdb".
    join_engine: str = "auto"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for one read, bounded by the store's query memory limit."""
        return connect(self.query_memory_limit)

    def offline_table(self, table_name: str) -> DeltaTableStore:
        """The Delta table of one feature group version."""
        return DeltaTableStore(f"{self.root}/offline/{table_name}", storage_options=self.storage_options)

    def online_store(self) -> OnlineStore:
        """The online store; by default SQLite under a local root (object stores need one given)."""
        if self.online is None:
            if not is_local_uri(self.root):
                raise FeatureStoreError(
                    f"root {self.root} is not a local folder, so there is no default online store; "
                    "pass online_store=SQLiteOnlineStore(<local path>) (or another OnlineStore) to FeatureStore"
                )
            self.online = SQLiteOnlineStore(f"{self.root}/online/online.sqlite")
        return self.online


def storage_options_of(options: Mapping[str, str] | None) -> dict[str, str]:
    """A plain dict copy (delta-rs wants str -> str)."""
    return {str(k): str(v) for k, v in (options or {}).items()}
