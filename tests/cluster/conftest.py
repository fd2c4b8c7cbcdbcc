"""The cluster test starts PostgreSQL, Redis, S3, MLflow, Celery and the Dagster daemon: it runs only
when asked (`make test-cluster` sets FRAUD_TEST_CLUSTER=1 and installs the `cluster` extra)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FRAUD_TEST_CLUSTER") == "1":
        return
    skip = pytest.mark.skip(reason="the cluster test runs with `make test-cluster` (FRAUD_TEST_CLUSTER=1)")
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
