"""The demo's budgets are valid run config of the project's job and keep every model-quality step running."""

from __future__ import annotations

import dagster as dg
import pytest

from fraud_pipelines.definitions import defs
from fraud_pipelines.training.config import DEMO_OPS, SelectionConfig, TuningConfig


def test_the_demo_budgets_are_valid_run_config_of_the_job():
    job = defs.resolve_job_def("fraud_pipeline_job")
    assert dg.validate_run_config(job, {"ops": DEMO_OPS})
    with pytest.raises(dg.DagsterInvalidConfigError):  # a misspelt setting is refused, not ignored
        dg.validate_run_config(job, {"ops": {"model_tuning": {"config": {"n_trial": 3}}}})


def test_the_demo_still_runs_a_ranking_and_a_search():
    selection = SelectionConfig(**DEMO_OPS["feature_selection"]["config"])
    tuning = TuningConfig(**DEMO_OPS["model_tuning"]["config"])
    assert selection.enabled and selection.policy().n_repeats >= 1
    assert tuning.budget().enabled and tuning.budget().timeout_seconds is None  # reproducible: by count only
