"""A champion trained once for the package (small synthetic data, real MLflow and Delta tables),
copied into each test's own $FRAUD_HOME; each test gets a fresh Dagster instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from bench.simulation import ShiftedRawSource, backfill, definitions
from fraud_pipelines.automation.policy import RetrainPolicy

from .world import HISTORY, SMALL, WINDOW_DAYS, World


@pytest.fixture(scope="package")
def champion_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("champion_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FRAUD_HOME", str(home))
        defs = definitions(ShiftedRawSource(**SMALL))
        config = RetrainPolicy(training_window_days=WINDOW_DAYS).training_run_config(HISTORY[1])
        with dg.instance_for_test() as instance:
            result = backfill(defs, instance, "fraud_pipeline_job", *HISTORY, config, log_level="WARNING")
            assert result.success
    return home


@pytest.fixture()
def make_world(champion_home, fraud_home, monkeypatch):
    """World(s) copied from the champion's home: into this test's $FRAUD_HOME, or into `home`."""
    with dg.instance_for_test() as first, dg.instance_for_test() as second:
        instances = iter([first, second])

        def make(*, home: Path | None = None, raw_source: ShiftedRawSource | None = None,
                 policy: RetrainPolicy | None = None) -> World:
            target = home or fraud_home
            shutil.copytree(champion_home, target, dirs_exist_ok=True)
            monkeypatch.setenv("FRAUD_HOME", str(target))
            defs = definitions(raw_source or ShiftedRawSource(**SMALL), retrain_policy=policy or RetrainPolicy())
            return World(defs, next(instances))

        yield make
