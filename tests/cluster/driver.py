"""Submit runs of `fraud_pipeline_job` to the cluster's Dagster instance and wait for them: run with the
cluster's environment (DAGSTER_HOME, Postgres URL, S3, Celery). Each phase's runs are queued together
(the daemon starts them side by side, pools permitting); the next phase waits for the previous one.
Prints one JSON document: the runs with their phase, name and final status.

    python tests/cluster/driver.py '{"phases": [[{"name": ..., "first": ..., "last": ..., "assets": [...]}]],
                                     "run_config": {...}, "timeout": 600}'
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from fraud_pipelines.launch import MODULE, remote_origin

REPO = Path(__file__).resolve().parents[2]
JOB = "fraud_pipeline_job"
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def submit(instance: dg.DagsterInstance, run: dict[str, Any], run_config: dict[str, Any]) -> str:
    """Create the run (as the workspace's code location names the job) and queue it."""
    job = ReconstructableRepository.for_module(MODULE, "defs", str(REPO)).get_reconstructable_job(JOB)
    job_def = job.get_definition()
    keys = frozenset(dg.AssetKey(name) for name in run.get("assets", ()))
    if keys:
        job_def = job_def.get_subset(asset_selection=keys)
    tags = {"dagster/asset_partition_range_start": run["first"], "dagster/asset_partition_range_end": run["last"],
            "fraud/cluster_test": run["name"]}
    created = instance.create_run_for_job(job_def=job_def, run_config=run_config, tags={**job_def.run_tags, **tags},
                                          asset_selection=keys or None, remote_job_origin=remote_origin(JOB),
                                          job_code_origin=job.get_python_origin())
    instance.submit_run(created.run_id, workspace=None)  # QueuedRunCoordinator: enqueue only
    return created.run_id


def create_pools(instance: dg.DagsterInstance) -> list[str]:
    """Give every pool of the job its one slot before the fan-out: runs that meet an unknown pool at the
    same moment both insert its row from `default_limit`, and on Postgres the loser's run fails."""
    job = ReconstructableRepository.for_module(MODULE, "defs", str(REPO)).get_reconstructable_job(JOB)
    pools = sorted({node.pool for node in job.get_definition().all_node_defs if getattr(node, "pool", None)})
    for pool in pools:
        instance.event_log_storage.set_concurrency_slots(pool, 1)  # = dagster instance concurrency set <pool> 1
    return pools


def main(plan: dict[str, Any]) -> list[dict[str, str]]:
    instance = dg.DagsterInstance.get()
    create_pools(instance)
    results = []
    for index, phase in enumerate(plan["phases"]):
        ids = {submit(instance, run, plan.get("run_config", {})): run["name"] for run in phase}
        deadline = time.monotonic() + plan.get("timeout", 600)
        while True:
            runs = {run_id: instance.get_run_by_id(run_id) for run_id in ids}
            if all(r.status in DONE for r in runs.values()):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        results += [{"phase": str(index), "name": ids[run_id], "run_id": run_id, "status": r.status.value}
                    for run_id, r in runs.items()]
        if any(r.status != dg.DagsterRunStatus.SUCCESS for r in runs.values()):
            break
    return results


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
