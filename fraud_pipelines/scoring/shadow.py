"""Shadow scoring: each day's charges also scored by the challenger (the registry's `challenger`
alias) into `shadow_scores`, next to the champion's `batch_scores`. The shadow table carries the
challenger's version; nothing reads it to decide, so the champion's decisions never change."""

import dagster as dg
import pandas as pd

from fraud_pipelines.features.writes import chunks
from fraud_pipelines.governance.challenger import challenger_version
from fraud_pipelines.governance.compute import measured
from fraud_pipelines.metadata import table_metadata
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.per_day import days_text, window_text
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.scoring.assets import GROUP, batch_scores
from fraud_pipelines.scoring.batch import VersionScorer
from fraud_pipelines.scoring.tables import shadow_table


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "xgboost"},
    deps=[batch_scores],
    description="Each charge of the day also scored by the challenger (alias `challenger`), in shadow: "
                "recorded with its version, never acted on.",
)
def shadow_scores(context: dg.AssetExecutionContext, storage: StorageResource,
                  mlflow: MlflowResource) -> dg.MaterializeResult:
    days = days_in(context.partition_time_window)
    challenger = challenger_version(mlflow)
    champion = mlflow.champion_version()
    if challenger is None or challenger == champion:
        why = ("no registered version has the `challenger` alias" if challenger is None
               else f"the challenger alias points at the champion v{champion}")
        context.log.info(f"shadow_scores: nothing scored for {days_text(days[0], days[-1])}: {why}")
        return dg.MaterializeResult(metadata={"challenger_version": None, "skipped": why, "dagster/row_count": 0})
    with measured() as cost:
        td_version = mlflow.version_tags(challenger).get("training_dataset_version")
        if td_version is None:
            raise RuntimeError(f"challenger v{challenger} has no training_dataset_version tag; it cannot be scored")
        scorer = VersionScorer.load(mlflow, storage.feature_store(), challenger, td_version)
        table = shadow_table(storage, tid_type=scorer.transactions.schema().field("tid").type)
        rows = alerts = 0
        last = pd.DataFrame()
        for start, end in chunks(days):
            scored = scorer.score(start, end, reasons="alerts").assign(champion_version=champion)
            chunk_days = [d for d in days if start.date() <= d < end.date()]
            table.replace_days(scored, chunk_days)
            rows, alerts, last = rows + len(scored), alerts + int(scored["decision"].sum()), scored
            context.log.info(f"shadow_scores: {window_text(start, end)} {len(scored):,} charges scored by "
                             f"challenger v{challenger} (champion v{champion} decides)")
    return dg.MaterializeResult(metadata=table_metadata(
        last, uri=table.uri, time_column="datetime",
        **{"dagster/row_count": rows, "challenger_version": challenger, "champion_version": champion,
           "shadow_alerts": alerts, "run_days": days_text(days[0], days[-1]), **cost.metadata("scoring")},
    ))


SHADOW_ASSETS = [shadow_scores]
