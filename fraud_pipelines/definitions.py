"""The project's one `Definitions` object: it gathers the areas and adds project-wide policy."""

from __future__ import annotations

import dagster as dg

from fraud_pipelines.jobs import JOBS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import default_resources

defs = dg.Definitions(
    assets=[*RAW_ASSETS],
    asset_checks=[*RAW_CHECKS],
    jobs=JOBS,
    resources=default_resources(),
)
