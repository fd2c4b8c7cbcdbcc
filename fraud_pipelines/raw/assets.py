"""Raw assets: the four source tables land as Delta tables under `$FRAUD_HOME/raw/`.

`raw_transactions` and `raw_fraud_labels` are daily partitions on event time (UTC); a backfill
of many days is one run that writes the days in chunks, each chunk one atomic Delta commit that
replaces exactly its days. `raw_profiles` and `raw_credit_cards` are event-time histories,
rewritten whole at their own cadence.
"""


import time

import dagster as dg
import pandas as pd

from fraud_pipelines.metadata import table_metadata
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.resources import RawSourceResource, StorageResource

GROUP = "raw"
#: Rows written per Delta commit during a backfill: bounds memory whatever the range.
CHUNK_ROWS = 2_000_000


def _ingest_days(context: dg.AssetExecutionContext, table_name: str, storage: StorageResource,
                 raw_source: RawSourceResource) -> dg.MaterializeResult:
    source = raw_source.source()
    table = storage.raw_table(table_name)
    days = days_in(context.partition_time_window)
    context.log.info(f"{table_name}: {len(days)} day(s) {days[0]}..{days[-1]} from {source.describe()}")
    pending: list[pd.DataFrame] = []
    pending_days = []
    written = 0
    last: pd.DataFrame | None = None
    started = time.perf_counter()

    def flush() -> None:
        nonlocal written
        batch = pd.concat(pending, ignore_index=True)
        table.replace_days(batch, pending_days)
        written += len(batch)
        context.log.info(
            f"{table_name}: wrote {pending_days[0]}..{pending_days[-1]} ({len(batch):,} rows; "
            f"{written:,} so far, {time.perf_counter() - started:.1f}s)"
        )
        pending.clear()
        pending_days.clear()

    for day in days:
        frame = source.day(table_name, day)
        pending.append(frame)
        pending_days.append(day)
        last = frame
        if sum(len(f) for f in pending) >= CHUNK_ROWS:
            flush()
    if pending:
        flush()
    return dg.MaterializeResult(
        metadata=table_metadata(
            last if last is not None else pd.DataFrame(),
            uri=table.uri,
            time_column="datetime",
            **{
                "dagster/row_count": written,
                "days": len(days),
                "rows_per_day": round(written / len(days), 1),
                "delta_version": table.version(),
                "source": source.describe(),
            },
        )
    )


def _ingest_history(table_name: str, storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    source = raw_source.source()
    table = storage.raw_table(table_name)
    frame = source.history(table_name)
    result = table.replace_all(frame)
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame,
            uri=table.uri,
            time_column="event_time",
            entities=int(frame["cc_num"].nunique()),
            versions_per_entity=round(len(frame) / max(frame["cc_num"].nunique(), 1), 2),
            delta_version=result["delta_version"],
            source=source.describe(),
        )
    )


_PARTITIONED = dict(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "pandas"},
)


@dg.asset(description="Card transactions (tid, cc_num, datetime, category, amount, latitude, longitude), "
                      "one Delta partition per UTC day.", **_PARTITIONED)
def raw_transactions(context: dg.AssetExecutionContext, storage: StorageResource,
                     raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_days(context, "transactions", storage, raw_source)


@dg.asset(description="Fraud labels per transaction (tid, cc_num, datetime, is_fraud, label_time), "
                      "partitioned by the transaction's UTC day.", **_PARTITIONED)
def raw_fraud_labels(context: dg.AssetExecutionContext, storage: StorageResource,
                     raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_days(context, "fraud_labels", storage, raw_source)


@dg.asset(group_name=GROUP, kinds={"delta", "pandas"},
          description="Card owners' history (name, sex, birthdate, city, country) by event time: a move is a new row.")
def raw_profiles(storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_history("profiles", storage, raw_source)


@dg.asset(group_name=GROUP, kinds={"delta", "pandas"},
          description="Cards' history (provider, expiry) by event time: a reissue is a new row.")
def raw_credit_cards(storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_history("credit_cards", storage, raw_source)


RAW_ASSETS = [raw_transactions, raw_fraud_labels, raw_profiles, raw_credit_cards]
