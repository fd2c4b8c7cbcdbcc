"""Training-area jobs: `rollback_job` moves the champion alias back to a named version with a reason
(the same rollback as `python -m fraud_pipelines.cli rollback`), launched from the UI's launchpad."""

import dagster as dg
from pydantic import Field

from fraud_pipelines.resources import MlflowResource


class RollbackConfig(dg.Config):
    """Which registered version becomes the champion again, and why (recorded in the registry)."""

    version: str = Field(description="A registered version of the model, e.g. 3.")
    reason: str = Field(description="Why: kept as tags on both versions and on the registered model.")


@dg.op(description="Point the champion alias at the configured version; refuse unknown versions.")
def rollback_champion(context: dg.OpExecutionContext, config: RollbackConfig, mlflow: MlflowResource) -> dict:
    from fraud_pipelines.training.rollback import RollbackError, rollback

    try:
        done = rollback(mlflow, config.version, config.reason)
    except RollbackError as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(done.describe())
    context.add_output_metadata({"champion_version": done.version, "previous_champion": done.previous or "none",
                                 "reason": done.reason, "at": done.at})
    return {"version": done.version, "previous": done.previous, "reason": done.reason, "at": done.at}


@dg.job(description="Roll the champion back to a named earlier version with a reason; batch scoring and the "
                    "REST service follow the alias without a restart.", tags={"fraud/kind": "rollback"})
def rollback_job() -> None:
    rollback_champion()


TRAINING_JOBS = [rollback_job]
