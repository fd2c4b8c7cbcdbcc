"""The cluster is chosen by configuration: the environment variables the README lists select the executor,
the IO manager and the MLflow server, refuse what they do not know, and leave the embedded defaults alone
when unset. A table that several writers create and fill at once ends with one copy of the rows: each
writer either commits or is refused with CommitFailedError (the loser of the race for version 0 is not
retried as an append: it overwrites its range instead). The whole cluster runs in tests/cluster
(`make test-cluster`)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake.exceptions import CommitFailedError

from fraud_pipelines.feature_store.errors import ConcurrentWriteError
from fraud_pipelines.feature_store.offline_store import DeltaTableStore, TimeRange
from fraud_pipelines.resources import (
    CELERY_BACKEND_ENV,
    CELERY_BROKER_ENV,
    EXECUTOR_ENV,
    IO_MANAGER_ENV,
    default_resources,
    executor,
    object_store_io_manager,
)
from fraud_pipelines.tables import DeltaDayTable
from fraud_pipelines.training.registry import ModelRegistry

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
UTC = timezone.utc


def test_unset_means_the_embedded_defaults(monkeypatch):
    for name in (EXECUTOR_ENV, IO_MANAGER_ENV, "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    assert executor() is None and object_store_io_manager() == {}
    assert "io_manager" not in default_resources()
    assert ModelRegistry().resolved_tracking_uri().startswith("sqlite:///")


@pytest.mark.parametrize(("name", "value", "words"), [
    (EXECUTOR_ENV, "dask", "expected 'celery'"),
    (IO_MANAGER_ENV, "/tmp/outputs", "expected s3://bucket/prefix"),
    (IO_MANAGER_ENV, "s3://", "expected s3://bucket/prefix"),
])
def test_unknown_settings_are_refused_by_name(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name) as error:
        executor() if name == EXECUTOR_ENV else object_store_io_manager()
    assert words in str(error.value) and value in str(error.value)


def test_a_tracking_server_keeps_its_own_artifact_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    registry = ModelRegistry()
    assert registry.resolved_tracking_uri() == "http://127.0.0.1:5999"
    assert registry.resolved_artifact_location() is None  # the server's --artifacts-destination
    assert ModelRegistry(artifact_location="s3://b/a").resolved_artifact_location() == "s3://b/a"


def test_celery_and_the_s3_io_manager_when_the_cluster_extra_is_installed(monkeypatch):
    pytest.importorskip("dagster_celery", reason="the cluster extra (make test-cluster installs it)")
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    monkeypatch.setenv(IO_MANAGER_ENV, "s3://bucket/some/prefix")
    assert executor().name == "celery"
    manager = object_store_io_manager()["io_manager"]
    assert (manager.s3_bucket, manager.s3_prefix) == ("bucket", "some/prefix")


def test_every_cluster_variable_is_documented():
    for name in (EXECUTOR_ENV, IO_MANAGER_ENV, CELERY_BROKER_ENV, CELERY_BACKEND_ENV, "FRAUD_DAGSTER_POSTGRES_URL",
                 "MLFLOW_TRACKING_URI", "FRAUD_LOCAL_HOME", "FRAUD_REDIS_URL"):
        assert f"`{name}`" in README, name
    config = (Path(__file__).resolve().parents[1] / "deploy" / "cluster" / "dagster.yaml").read_text()
    assert "FRAUD_DAGSTER_POSTGRES_URL" in config and "default_limit: 1" in config


def _day(n: int) -> pd.DataFrame:
    times = pd.date_range("2025-01-02", periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"tid": range(n), "datetime": times, "amount": [1.5 * i for i in range(n)]})


SCHEMA = pa.schema([("tid", pa.int64()), ("datetime", pa.timestamp("us", tz="UTC")), ("amount", pa.float64())])


def test_a_day_table_created_by_two_writers_at_once_holds_one_copy(tmp_path):
    barrier = threading.Barrier(4)
    errors = []

    def write() -> None:
        table = DeltaDayTable(str(tmp_path / "t"), SCHEMA, time_column="datetime")
        barrier.wait()
        try:
            table.replace_days(_day(50), [date(2025, 1, 2)])
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    table = DeltaDayTable(str(tmp_path / "t"), SCHEMA, time_column="datetime")
    # A writer that raced is refused whole (CommitFailedError), never half-applied or duplicated.
    assert len(errors) < 4 and all(isinstance(e, CommitFailedError) for e in errors), errors
    rows = table.read()
    assert len(rows) == 50 and not rows["tid"].duplicated().any()
    assert table.version() == 3 - len(errors)  # version 0 by the creator, then one commit per other winner


def test_a_feature_table_created_by_two_writers_at_once_holds_one_copy(tmp_path):
    data = pa.Table.from_pandas(_day(40), schema=SCHEMA, preserve_index=False)
    window = TimeRange(start=datetime(2025, 1, 2, tzinfo=UTC), end=datetime(2025, 1, 3, tzinfo=UTC))
    barrier = threading.Barrier(4)

    errors = []

    def write() -> None:
        store = DeltaTableStore(str(tmp_path / "fg"))
        barrier.wait()
        try:
            store.replace_range(data, event_time="datetime", time_range=window)
        except ConcurrentWriteError as error:  # the store's name for CommitFailedError
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    from deltalake import DeltaTable

    stored = DeltaTable(str(tmp_path / "fg")).to_pandas()  # small local table
    assert len(errors) < 4
    assert len(stored) == 40 and not stored["tid"].duplicated().any()
