"""Every test gets its own empty FRAUD_HOME and Dagster home: nothing leaks between tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TQDM_DISABLE", "1")
# The tests' data lives in January 2025: pin the first daily partition there, whatever today is.
os.environ.setdefault("FRAUD_START_DATE", "2025-01-01")
# One card token key for every test, so that runs in different homes (a backfill against daily runs)
# store the same tokens; tests of the generated demo key unset it.
os.environ.setdefault("FRAUD_TOKEN_KEY", "5e" * 32)


@pytest.fixture(autouse=True)
def fraud_home(tmp_path, monkeypatch):
    """A fresh `$FRAUD_HOME` (and `$DAGSTER_HOME` inside it) for each test."""
    home = tmp_path / "fraud_home"
    home.mkdir()
    monkeypatch.setenv("FRAUD_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home
