"""Batch scoring: each day's charges scored by the champion, written as a partitioned Delta table
that records which model version made each score."""

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from feature_logic.schema import UTC_TIMESTAMP
from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import transactions_4h_aggs, transactions_fg
from fraud_pipelines.features.writes import chunks
from fraud_pipelines.governance.compute import measured
from fraud_pipelines.governance.reasons import Explainer, as_text
from fraud_pipelines.metadata import table_metadata
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.per_day import add_day_metadata, day_metadata, days_text, split_by_day, window_text
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.tables import DeltaDayTable
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.assets import registered_model
from fraud_pipelines.training.model import select_features

GROUP = "scoring"

SCORES = pa.schema([
    ("tid", pa.int64()),  # or pa.string(): typed like the charges' ids (`scores_table`)
    ("cc_num", pa.int64()),
    ("datetime", UTC_TIMESTAMP),
    ("fraud_score", pa.float64()),
    ("decision", pa.int8()),  # 1: raise an alert
    ("threshold", pa.float64()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("reasons", pa.string()),  # the top 3 TreeSHAP reasons as JSON (governance.reasons)
])


def scores_table(storage: StorageResource, tid_type: pa.DataType | None = None) -> DeltaDayTable:
    """The `batch_scores` Delta table under the storage root, its `tid` typed like the charges'
    ids: `tid_type` when given, else as stored, else int64."""
    uri = f"{storage.location}/scores/batch_scores"
    if tid_type is None:
        tid_type = _stored_tid_type(uri, storage.storage_options) or pa.int64()
    if pa.types.is_string(tid_type) or pa.types.is_large_string(tid_type) or pa.types.is_string_view(tid_type):
        tid_type = pa.string()
    schema = SCORES.set(SCORES.get_field_index("tid"), pa.field("tid", tid_type))
    return DeltaDayTable(uri, schema, time_column="datetime", storage_options=storage.storage_options)


def _stored_tid_type(uri: str, storage_options: dict[str, str]) -> pa.DataType | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        stored = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
    except TableNotFoundError:
        return None
    return stored.field("tid").type


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "xgboost"},
    deps=[transactions_fg, transactions_4h_aggs, registered_model],
    description="Each charge of the day scored by the champion: score, decision, threshold, model version.",
)
def batch_scores(
    context: dg.AssetExecutionContext, storage: StorageResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    with measured() as cost:
        result = _score_days(context, storage, mlflow)
    result.metadata.update(cost.metadata("scoring"))
    return result


def _score_days(context: dg.AssetExecutionContext, storage: StorageResource, mlflow: MlflowResource
                ) -> dg.MaterializeResult:
    fs = storage.feature_store()
    champion = mlflow.get_champion()
    if champion is None:
        raise RuntimeError("no champion model yet: materialize registered_model first (it promotes the first model)")
    model = mlflow.load_version(champion.version)
    explainer = Explainer.from_classifier(model.classifier, model.feature_names)
    transformed = [name for name in model.feature_names if name in fraud_view.TRANSFORMATIONS]
    fv = fraud_view.get_or_create(fs)
    fv.init_batch_scoring(int(champion.training_dataset_version))
    transactions = groups.TRANSACTIONS.get_or_create(fs)
    table = scores_table(storage, tid_type=transactions.schema().field("tid").type)
    days = days_in(context.partition_time_window)
    rows = alerts = 0
    last = pd.DataFrame()
    for start, end in chunks(days):
        spine = transactions.read(start, end, columns=["tid", "cc_num", "datetime", *transformed])
        features = fv.get_batch_data(spine=spine[["tid", "datetime"]], primary_key=True)
        if not features["tid"].equals(spine["tid"]):
            raise RuntimeError("batch data rows do not line up with the charges being scored")
        score = model.predict_proba(features.drop(columns=["tid"]))
        matrix = select_features(features, model.feature_names).to_numpy(dtype=np.float64, na_value=np.nan)
        reasons = explainer.reasons(matrix, readable={name: spine[name].tolist() for name in transformed})
        scored = spine[["tid", "cc_num", "datetime"]].assign(
            fraud_score=score,
            decision=(score >= model.threshold).astype(np.int8),
            threshold=model.threshold,
            model_name=mlflow.registered_model_name,
            model_version=str(model.version),
            reasons=[as_text(r) for r in reasons],
        )
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
           "model_version": str(model.version), "threshold": model.threshold, "run_days": days_text(days[0], days[-1])},
    ))


def _day_scores(frame: pd.DataFrame, delta_version: int) -> dict:
    """One day's scores: rows, time range, preview, alerts and the score distribution."""
    alerts = int(frame["decision"].sum()) if len(frame) else 0
    rate = round(alerts / len(frame), 5) if len(frame) else 0.0
    return day_metadata(frame, "datetime", alerts=alerts, alert_rate=rate,
                        mean_score=round(float(frame["fraud_score"].mean()), 6) if len(frame) else 0.0,
                        delta_version=delta_version)


SCORING_ASSETS = [batch_scores]
