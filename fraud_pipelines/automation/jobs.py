"""The jobs automation launches: the daily job (raw → feature groups → batch scores → drift), the
refresh after an inbox file, retraining, and the inbox ingestion itself."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from fraud_pipelines.automation import inbox
from fraud_pipelines.partitions import DAILY
from fraud_pipelines.resources import StorageResource

RAW_DAILY = dg.AssetSelection.assets("raw_transactions", "raw_fraud_labels")
#: Event-time histories, refreshed every day so a new card or an owner's move reaches features and serving.
HISTORIES = dg.AssetSelection.assets("raw_profiles", "raw_credit_cards", "card_versions_fg")
FEATURES = dg.AssetSelection.assets(
    "transactions_fg", "transactions_4h_aggs", "fraud_labels_fg", "card_recent_charges_fg"  # offline and online
)
SCORES_AND_DRIFT = dg.AssetSelection.assets("batch_scores", "shadow_scores", "feature_drift")

#: Run tags that say why automation launched a run (shown on the run in the UI).
TRIGGER_TAG = "fraud/trigger"
REASON_TAG = "fraud/reason"
CHAMPION_TAG = "fraud/champion_version"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

daily_job = dg.define_asset_job(
    "daily_job",
    selection=RAW_DAILY | HISTORIES | FEATURES | SCORES_AND_DRIFT,
    partitions_def=DAILY,
    description="One day (or a range, as one run) in order: raw tables and the owner and card histories → "
                "feature groups (offline and online, card versions included) → batch scores → feature drift. "
                "Every daily asset has a single-run backfill policy.",
)

refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=FEATURES | SCORES_AND_DRIFT,
    partitions_def=DAILY,
    description="Rebuild features, scores and drift for days whose raw data changed (e.g. a file from the inbox).",
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.groups("training") | dg.AssetSelection.assets("model_importance", "model_fairness"),
    description="Train on all labelled days, evaluate against the baseline and the champion, register; the "
                "champion alias moves only if the new model is better (the registry rule).",
)


class InboxFileConfig(dg.Config):
    """The dropped file to ingest, relative to the inbox folder."""

    path: str = Field(description="e.g. transactions/2025-01-03.csv")


@dg.op(description="Check one dropped file and write the raw partitions it covers in one commit; a bad file "
                   "moves to inbox/rejected/ with an error report and nothing is written.")
def ingest_inbox_file(context: dg.OpExecutionContext, config: InboxFileConfig, storage: StorageResource):
    folder = inbox.inbox_dir()
    relative = Path(config.path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise dg.Failure(description=f"refused {config.path[:200]!r}: not a path inside the inbox (absolute paths and "
                                     "'..' are refused)", allow_retries=False)
    path = folder / relative
    if not (path.is_file() or path.is_symlink()):
        raise dg.Failure(description=f"{path} is no longer in the inbox (moved or ingested already)")
    try:
        ingested = inbox.ingest_file(path, folder, storage.raw_table)
    except inbox.InboxRejected as rejected:
        raise dg.Failure(
            description=f"rejected {config.path}: {rejected}",
            metadata={"file": config.path, "moved_to": str(rejected.moved_to), "error_report": str(rejected.report)},
            allow_retries=False,
        ) from None
    for table in ingested:
        uri = storage.raw_table(table.table).uri
        for day in table.days:
            yield dg.AssetMaterialization(
                asset_key=f"raw_{table.table}", partition=day.isoformat(),
                description=f"from the inbox file {config.path}",
                metadata={"source": config.path, "delta_version": table.delta_version, "dagster/uri": uri,
                          "dagster/row_count": table.rows},
            )
        context.log.info(f"{config.path}: {table.rows:,} rows into {table.table} for {table.days[0]}; file moved to "
                         f"{table.moved_to}")
    first = ingested[0]
    yield dg.Output({"table": first.table, "days": [d.isoformat() for d in first.days], "rows": first.rows,
                     "tables": {t.table: t.rows for t in ingested}})


@dg.job(description="Ingest one file dropped into $FRAUD_HOME/inbox/ (launched by inbox_sensor).")
def inbox_ingest_job():
    ingest_inbox_file()


AUTOMATION_JOBS = [daily_job, refresh_job, retrain_job, inbox_ingest_job]
