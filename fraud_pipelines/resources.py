"""Dagster resources: the one place where local and cluster settings are chosen.

Defaults are the embedded configuration (everything under `$FRAUD_HOME`); point `root` (or
`$FRAUD_HOME`) at an object store (keys in `storage_options` or the AWS_* variables) to run the same
code past one machine; `$FRAUD_IO_MANAGER_URI` and `$FRAUD_EXECUTOR` move step outputs to the object
store and steps to Celery workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from fraud_pipelines import contract as contracts
from fraud_pipelines.settings import fraud_home, start_date
from fraud_pipelines.storage import Storage
from fraud_pipelines.tables import DeltaDayTable
from fraud_pipelines.training.registry import ModelRegistry, RegistryOperations


class StorageResource(dg.ConfigurableResource):
    """Where tables live: `$FRAUD_HOME` by default, or any delta-rs location (s3://, gs://, abfss://)."""

    root: str = Field(default="", description="Root folder or URI; empty means $FRAUD_HOME.")
    storage_options: dict[str, str] = Field(default_factory=dict, description="delta-rs storage options.")
    online_store: Literal["", "sqlite", "redis"] = Field(
        default="", description="sqlite (a file under the root) or redis; empty: $FRAUD_ONLINE_STORE, else sqlite."
    )
    redis_url: str = Field(default="", description="Redis URL; empty: $FRAUD_REDIS_URL, else redis://127.0.0.1:6379/0.")
    redis_namespace: str = Field(default="fraud", description="Key prefix separating stores sharing one Redis.")

    def storage(self) -> Storage:
        """The same settings as a plain object (what the REST service and the CLI use)."""
        return Storage(self.root, dict(self.storage_options), self.online_store, self.redis_url,
                       self.redis_namespace)

    @property
    def location(self) -> str:
        return self.storage().location

    def online_store_kind(self) -> str:
        """The online store in use: "sqlite" or "redis"."""
        return self.storage().online_store_kind()

    def resolved_redis_url(self) -> str:
        """The Redis URL used when the online store is redis."""
        return self.storage().resolved_redis_url()

    def raw_table(self, name: str) -> DeltaDayTable:
        """The raw Delta table `name` (one of transactions, profiles, credit_cards, fraud_labels)."""
        return self.storage().raw_table(name)

    def feature_store(self, *, query_memory_limit: str | None = None):  # -> FeatureStore (imported lazily)
        """The feature store rooted under this location (`query_memory_limit`: see `Storage.feature_store`)."""
        return self.storage().feature_store(query_memory_limit=query_memory_limit)


class RawSourceResource(dg.ConfigurableResource):
    """Where raw rows come from: the data contract in force (`fraud_pipelines.contract`), unless
    overridden here: the seeded generator, or CSV/Parquet files in a landing folder."""

    kind: Literal["", "synthetic", "files"] = Field(
        default="", description="synthetic | files; empty: the data contract's source")
    landing_dir: str = Field(default="", description="Folder of user files; empty: the contract's landing, "
                                                      "else $FRAUD_HOME/landing.")
    seed: Optional[int] = Field(default=None, description="Synthetic: seed (default: the contract's).")
    n_cards: Optional[int] = Field(default=None, description="Synthetic: cards (default: the contract's, 5,000).")
    transactions_per_day: Optional[int] = Field(default=None, description="Synthetic: mean charges a day.")
    fraud_rate: Optional[float] = Field(default=None, description="Synthetic: share of fraudulent charges.")
    horizon_days: int = Field(default=90, description="Synthetic: days over which card/owner histories unfold.")

    def contract(self) -> contracts.DataContract:
        """The data contract in force, with this resource's overrides applied."""
        contract = contracts.active()
        updates: dict = {}
        if self.kind:
            updates["source"] = self.kind
        knobs = {k: getattr(self, k) for k in ("seed", "n_cards", "transactions_per_day", "fraud_rate")
                 if getattr(self, k) is not None}
        if knobs:
            updates["synthetic"] = contract.synthetic.model_copy(update=knobs)
        return contract.model_copy(update=updates) if updates else contract

    def source(self):
        """A SyntheticSource or FileSource for the contract in force."""
        from fraud_pipelines.raw.sources import FileSource, SyntheticSource

        contract = self.contract()
        if contract.source == "files":
            landing = self.landing_dir or f"{fraud_home()}/landing"
            if self.landing_dir:
                contract = contract.model_copy(update={"landing": str(Path(self.landing_dir).resolve())})
            return FileSource(contract, landing)
        from feature_logic.synthetic import SyntheticConfig

        knobs = contract.synthetic
        return SyntheticSource(
            SyntheticConfig(
                seed=knobs.seed,
                start_date=start_date(),
                n_days=self.horizon_days,
                n_cards=knobs.n_cards,
                transactions_per_day=knobs.transactions_per_day,
                fraud_rate=knobs.fraud_rate,
            )
        )


class MlflowResource(dg.ConfigurableResource, RegistryOperations):
    """The MLflow tracking store and model registry (`training.registry.RegistryOperations`); empty
    settings mean the embedded store under `$FRAUD_HOME/mlflow` (SQLite + artifact folder, no server)."""

    tracking_uri: str = Field(default="", description="Tracking store URI; empty: sqlite under $FRAUD_HOME.")
    registry_uri: str = Field(default="", description="Model registry URI; empty: the tracking URI.")
    artifact_location: str = Field(
        default="", description="Artifact root for a new experiment; empty: $FRAUD_HOME/mlflow/artifacts."
    )
    experiment_name: str = "fraud_model"
    registered_model_name: str = "fraud_model"

    def registry(self) -> ModelRegistry:
        """The same settings as a plain object (what the REST service and the CLI use)."""
        return ModelRegistry(self.tracking_uri, self.registry_uri, self.artifact_location, self.experiment_name,
                             self.registered_model_name)


#: Where step outputs go when set (`s3://bucket/prefix`): an IO manager on the object store instead
#: of pickles on the local disk, so steps may run on different machines (e.g. Celery workers).
IO_MANAGER_ENV = "FRAUD_IO_MANAGER_URI"
#: `celery` runs each step as a Celery task (dagster-celery, the `cluster` extra); unset: Dagster's default.
EXECUTOR_ENV = "FRAUD_EXECUTOR"
#: The Celery broker and result backend URLs (e.g. redis://host:6379/1) when FRAUD_EXECUTOR=celery.
CELERY_BROKER_ENV, CELERY_BACKEND_ENV = "FRAUD_CELERY_BROKER", "FRAUD_CELERY_BACKEND"


def default_resources() -> dict[str, object]:
    """The embedded defaults used by `definitions.py`, the CLI and the tests, plus the object-store
    IO manager when `$FRAUD_IO_MANAGER_URI` names one."""
    return {"storage": StorageResource(), "raw_source": RawSourceResource(), "mlflow": MlflowResource(),
            **object_store_io_manager()}


def object_store_io_manager() -> dict[str, object]:
    """`{"io_manager": ...}` pickling step outputs to `$FRAUD_IO_MANAGER_URI` (s3://bucket/prefix; the
    endpoint and keys come from the usual AWS_* variables), or {} for Dagster's local default."""
    uri = os.environ.get(IO_MANAGER_ENV, "")
    if not uri:
        return {}
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{IO_MANAGER_ENV}={uri!r}: expected s3://bucket/prefix")
    from dagster_aws.s3 import S3PickleIOManager, S3Resource  # the `cluster` extra

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    return {"io_manager": S3PickleIOManager(s3_resource=S3Resource(endpoint_url=endpoint), s3_bucket=parsed.netloc,
                                            s3_prefix=parsed.path.strip("/") or "dagster")}


def executor() -> dg.ExecutorDefinition | None:
    """The executor `$FRAUD_EXECUTOR` selects: `celery` (broker and backend from `$FRAUD_CELERY_BROKER` and
    `$FRAUD_CELERY_BACKEND`), or None for Dagster's default (multiprocess, or in-process when asked)."""
    kind = os.environ.get(EXECUTOR_ENV, "")
    if not kind:
        return None
    if kind != "celery":
        raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected 'celery' or nothing")
    from dagster_celery import celery_executor  # the `cluster` extra

    return celery_executor.configured({"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}})


__all__ = ["MlflowResource", "RawSourceResource", "StorageResource", "default_resources", "executor",
           "object_store_io_manager"]
