"""Batch scoring: each day's charges scored by the champion, written as a partitioned Delta table
that records which model version made each score."""

import dagster as dg
import pandas as pd
from pydantic import Field

from fraud_pipelines.features.writes import chunks
from fraud_pipelines.governance.compute import measured
from fraud_pipelines.metadata import table_metadata
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.per_day import add_day_metadata, day_metadata, days_text, split_by_day, window_text
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.scoring.batch import ReasonCodes, VersionScorer
from fraud_pipelines.scoring.tables import scores_table

GROUP = "scoring"


class ScoringConfig(dg.Config):
    """Which charges carry reason codes in the `reasons` column."""

    reason_codes: ReasonCodes = Field(default="all", description=(
        "all: every charge (one XGBoost prediction gives scores and contributions; over 10M charges x1.26 wall, "
        "x1.34 CPU of scoring without reasons, +0.5 GB peak: see bench/bench_reason_codes.py); alerts: only alerted "
        "charges (what analysts review; x0.88 wall, x0.96 CPU); none: no reasons."))


@dg.asset(
    pool="batch_scores",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "xgboost"},
    deps=["transactions_fg", "transactions_4h_aggs", "registered_model"],
    description="Each charge of the day scored by the champion: score, decision, threshold, model version.",
)
def batch_scores(
    context: dg.AssetExecutionContext, config: ScoringConfig, storage: StorageResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    with measured() as cost:
        result = _score_days(context, storage, mlflow, config.reason_codes)
    result.metadata.update(cost.metadata("scoring"))
    return result


def _score_days(context: dg.AssetExecutionContext, storage: StorageResource, mlflow: MlflowResource,
                reason_codes: ReasonCodes) -> dg.MaterializeResult:
    fs = storage.feature_store()
    champion = mlflow.get_champion()
    if champion is None:
        raise RuntimeError("no champion model yet: materialize registered_model first (it promotes the first model)")
    scorer = VersionScorer.load(mlflow, fs, champion.version, champion.training_dataset_version)
    model = scorer.model
    table = scores_table(storage, tid_type=scorer.transactions.schema().field("tid").type)
    days = days_in(context.partition_time_window)
    rows = alerts = 0
    last = pd.DataFrame()
    for start, end in chunks(days):
        scored = scorer.score(start, end, reasons=reason_codes)
        chunk_days = [d for d in days if start.date() <= d < end.date()]
        written = table.replace_days(scored, chunk_days)
        add_day_metadata(context, {day: _day_scores(frame, written["delta_version"])
                                   for day, frame in split_by_day(scored, "datetime", chunk_days).items()})
        rows, alerts, last = rows + len(scored), alerts + int(scored["decision"].sum()), scored
        context.log.info(f"batch_scores: {window_text(start, end)} {len(scored):,} charges, "
                         f"{int(scored['decision'].sum())} alerts (model v{model.version})")
    return dg.MaterializeResult(metadata=table_metadata(
        last, uri=table.uri, time_column="datetime",
        **{"dagster/row_count": rows, "run_alerts": alerts, "run_alert_rate": round(alerts / rows, 5) if rows else 0.0,
           "model_version": str(model.version), "threshold": model.threshold, "run_days": days_text(days[0], days[-1]),
           "reason_codes": reason_codes},
    ))


def _day_scores(frame: pd.DataFrame, delta_version: int) -> dict:
    """One day's scores: rows, time range, preview, alerts and the score distribution."""
    alerts = int(frame["decision"].sum()) if len(frame) else 0
    rate = round(alerts / len(frame), 5) if len(frame) else 0.0
    return day_metadata(frame, "datetime", alerts=alerts, alert_rate=rate,
                        mean_score=round(float(frame["fraud_score"].mean()), 6) if len(frame) else 0.0,
                        delta_version=delta_version)


SCORING_ASSETS = [batch_scores]
