"""Jobs: the main job runs the whole graph for a range of daily partitions in one run."""

from __future__ import annotations

import dagster as dg

from fraud_pipelines.partitions import DAILY

#: Everything, in dependency order: raw tables now; features, model and scores as they land.
fraud_pipeline_job = dg.define_asset_job(
    "fraud_pipeline_job",
    selection=dg.AssetSelection.all(),
    partitions_def=DAILY,
    description="The end-to-end pipeline for a range of days (the demo runs it on the embedded defaults).",
)

JOBS = [fraud_pipeline_job]
