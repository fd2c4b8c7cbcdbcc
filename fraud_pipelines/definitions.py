"""The project's one `Definitions` object: it gathers the areas and adds project-wide policy."""

from __future__ import annotations

import warnings

import dagster as dg

# Single-run backfills and partitioned checks are labelled beta/preview; we rely on both knowingly.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from fraud_pipelines.automation.assets import AUTOMATION_ASSETS
from fraud_pipelines.automation.jobs import AUTOMATION_JOBS
from fraud_pipelines.automation.schedules import SCHEDULES
from fraud_pipelines.automation.sensors import AUTOMATION_RESOURCES, SENSORS
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.governance.assets import GOVERNANCE_ASSETS
from fraud_pipelines.jobs import JOBS
from fraud_pipelines.maintenance.assets import MAINTENANCE_ASSETS
from fraud_pipelines.maintenance.jobs import MAINTENANCE_JOBS, MAINTENANCE_SCHEDULES
from fraud_pipelines.privacy.jobs import PRIVACY_JOBS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import default_resources, executor
from fraud_pipelines.scoring.assets import SCORING_ASSETS
from fraud_pipelines.scoring.shadow import SHADOW_ASSETS
from fraud_pipelines.serving.assets import SERVING_ASSETS
from fraud_pipelines.training.assets import TRAINING_ASSETS
from fraud_pipelines.training.checks import TRAINING_CHECKS
from fraud_pipelines.training.jobs import TRAINING_JOBS

defs = dg.Definitions(
    assets=[*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_ASSETS, *SCORING_ASSETS, *SHADOW_ASSETS, *SERVING_ASSETS,
            *AUTOMATION_ASSETS, *GOVERNANCE_ASSETS, *MAINTENANCE_ASSETS],
    asset_checks=[*RAW_CHECKS, *FEATURE_CHECKS, *TRAINING_CHECKS],
    jobs=[*JOBS, *AUTOMATION_JOBS, *TRAINING_JOBS, *MAINTENANCE_JOBS, *PRIVACY_JOBS],
    schedules=[*SCHEDULES, *MAINTENANCE_SCHEDULES],
    sensors=SENSORS,
    resources={**default_resources(), **AUTOMATION_RESOURCES},
    executor=executor(),  # Dagster's default unless $FRAUD_EXECUTOR selects Celery
)
