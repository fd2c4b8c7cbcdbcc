"""`forget_card_job`: the right to erasure from the UI's launchpad (the same erasure as
`python -m fraud_pipelines.cli forget --card PAN`). It takes the card's token, never the card
number: a run's config stays in Dagster's run history, so the erasure's own run keeps the token as
the record that the request was carried out (`cli token --card PAN` prints it)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from fraud_pipelines.resources import StorageResource


class ForgetConfig(dg.Config):
    """Which card to erase, by token, and why (recorded on the training datasets it changes)."""

    card_token: int = Field(gt=0, description="The card's token (python -m fraud_pipelines.cli token --card PAN).")
    reason: str = Field(default="erasure request", description="Why: kept in the erasure records.")


@dg.op(description="Delete every row of the card from every Delta table, the online store and the training "
                   "datasets (frozen without it); drop the tables' older versions; verify nothing is left.")
def forget_card(context: dg.OpExecutionContext, config: ForgetConfig, storage: StorageResource) -> dict:
    from fraud_pipelines.privacy.erasure import ErasureIncomplete, forget

    history = Path(context.instance.root_directory) / "history"  # this run's record: its config holds the token
    try:
        report = forget(config.card_token, storage.storage(), reason=config.reason, log=context.log.info,
                        records=(history / "runs.db", history / "runs" / f"{context.run_id}.db"))
    except ErasureIncomplete as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(report.describe())
    context.add_output_metadata({"charges": report.charges, "delta_rows_deleted": sum(report.delta_rows.values()),
                                 "online_rows_deleted": sum(report.online_rows.values()),
                                 "training_datasets_frozen": len(report.training_datasets)})
    return {"delta_rows": report.delta_rows, "online_rows": report.online_rows}


@dg.job(description="Erase one card (by token) everywhere: tables and their history, online store, training "
                    "datasets; idempotent.", tags={"fraud/kind": "erasure"})
def forget_card_job() -> None:
    forget_card()


PRIVACY_JOBS = [forget_card_job]
