"""Run a job in this process on the persistent instance, recorded as a run of the UI's code location.

`JobDefinition.execute_in_process` records a run without a code-location origin: the Runs list shows
it, but the Overview timeline (which places runs by code location and job) leaves it out, so the
landing page looked empty after the demo. Here the run is created with the origin `dagster dev -w
workspace.yaml` gives the same job (location, repository, job name; nothing is started to compute
it) and executed in this process with the in-process executor, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

MODULE = "fraud_pipelines.definitions"
#: The workspace the UI loads (`make ui`); its code location names the runs made here.
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
#: The repository name Dagster gives a module's single `Definitions` object.
REPOSITORY = "__repository__"


def remote_origin(job_name: str, workspace: Path = WORKSPACE) -> Any | None:
    """The job's origin as the workspace's code location names it (None without a workspace file)."""
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    if not workspace.exists():
        return None
    [location] = location_origins_from_yaml_paths([str(workspace)])
    return RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(location, REPOSITORY), job_name=job_name)


def execute_job_here(job_name: str, *, instance: dg.DagsterInstance, tags: Mapping[str, str],
                     run_config: Mapping[str, Any] | None = None) -> Any:
    """Execute `job_name` of `defs` in this process as a run the UI attributes to its code location;
    returns the execution result (`success`, `run_id`, `all_events`). Outputs pass through the job's
    IO manager, as in runs launched from the UI (`Definitions.load_asset_value` reads them back)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import (
        execute_run,  # the public `execute_job` takes no origin
    )

    job = ReconstructableRepository.for_module(MODULE, "defs", os.getcwd()).get_reconstructable_job(job_name)
    config = {**(run_config or {}), "execution": {"config": {"in_process": {}}}}
    job_def = job.get_definition()
    run = instance.create_run_for_job(job_def=job_def, run_config=config, tags={**job_def.run_tags, **tags},
                                      remote_job_origin=remote_origin(job_name),
                                      job_code_origin=job.get_python_origin())
    return execute_run(job, run, instance)
