"""Where the project's tables live, as a plain object: the REST service, the CLI and the Dagster
resource (`fraud_pipelines.resources.StorageResource`) all resolve locations through it, so the
service starts without Dagster and every caller sees the same tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from fraud_pipelines import contract as contracts
from fraud_pipelines.settings import fraud_home
from fraud_pipelines.tables import DeltaDayTable

_TIME_COLUMNS = {"transactions": "datetime", "fraud_labels": "datetime"}
ONLINE_STORES = ("sqlite", "redis")


@dataclass(frozen=True)
class Storage:
    """`$FRAUD_HOME` by default, or any delta-rs location (s3://, gs://, abfss://) with its options;
    the online store SQLite (a file under the root) or Redis."""

    root: str = ""
    storage_options: dict[str, str] = field(default_factory=dict)
    online_store: str = ""
    redis_url: str = ""
    redis_namespace: str = "fraud"

    @property
    def location(self) -> str:
        return (self.root or fraud_home()).rstrip("/")

    def online_store_kind(self) -> str:
        """The online store in use: "sqlite" or "redis" (`$FRAUD_ONLINE_STORE` when not set here)."""
        kind = self.online_store or os.environ.get("FRAUD_ONLINE_STORE", "") or "sqlite"
        if kind not in ONLINE_STORES:
            raise ValueError(f"FRAUD_ONLINE_STORE must be 'sqlite' or 'redis', got {kind!r}")
        return kind

    def resolved_redis_url(self) -> str:
        """The Redis URL used when the online store is redis."""
        return self.redis_url or os.environ.get("FRAUD_REDIS_URL", "") or "redis://127.0.0.1:6379/0"

    def raw_table(self, name: str) -> DeltaDayTable:
        """The raw Delta table `name` (transactions, profiles, credit_cards, fraud_labels), typed by the
        data contract in force."""
        return DeltaDayTable(f"{self.location}/raw/{name}", contracts.active().schema(name),
                             time_column=_TIME_COLUMNS.get(name), storage_options=self.storage_options)

    def feature_store(self, *, query_memory_limit: str | None = None) -> Any:  # a FeatureStore (imported lazily)
        """The feature store rooted under this location; `query_memory_limit` bounds each DuckDB read (default:
        the store's own, an eighth of physical memory)."""
        from fraud_pipelines.feature_store import FeatureStore

        online = None  # SQLite under the feature store's root
        if self.online_store_kind() == "redis":
            from fraud_pipelines.feature_store.redis_online_store import RedisOnlineStore

            online = RedisOnlineStore(self.resolved_redis_url(), namespace=self.redis_namespace)
        return FeatureStore(f"{self.location}/feature_store", storage_options=self.storage_options,
                            online_store=online, query_memory_limit=query_memory_limit)
