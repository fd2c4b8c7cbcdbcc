"""Rollback reaches the running REST service: `cli rollback` moves the champion alias back and the
service, polling the alias, serves the old version without a restart."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from .processes import REPO, uvicorn_server


def _served_version(client: httpx.Client, version: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        served = client.get("/health").json()["model_version"]
        if served == version:
            return served
        time.sleep(0.2)
    return served


def test_cli_rollback_is_served_without_a_restart(home, tmp_path):
    mlflow = home.mlflow
    first = mlflow.client().get_model_version(mlflow.registered_model_name, "1")
    second = mlflow.register_version(mlflow.find_logged_run(first.run_id))  # a new version to roll back from
    mlflow.set_champion(second)
    with uvicorn_server(home.env(), tmp_path / "service.log") as url, httpx.Client(base_url=url, timeout=30) as api:
        assert _served_version(api, second) == second == "2"
        command = [sys.executable, "-m", "fraud_pipelines.cli", "rollback", "--to", "1", "--reason", "alerts doubled"]
        done = subprocess.run(command, cwd=REPO, env=home.env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "from v2 back to v1" in done.stdout
        assert _served_version(api, "1") == "1"
        assert api.get("/ready").json() == {"ready": True, "model_version": "1"}
    assert mlflow.get_champion().version == "1"
    assert mlflow.version_tags("1")["rollback.reason"] == "alerts doubled"
