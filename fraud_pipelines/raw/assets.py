"""Raw assets: the four source tables land as Delta tables under `$FRAUD_HOME/raw/`.

`raw_transactions` and `raw_fraud_labels` are daily partitions on event time (UTC); a backfill
of many days is one run that writes the days in chunks, each chunk one atomic Delta commit that
replaces exactly its days. `raw_profiles` and `raw_credit_cards` are event-time histories,
rewritten whole at their own cadence.

Every write is write–audit–publish (`fraud_pipelines.raw.ingest`): rows are read and typed exactly,
audited against the table's suite and the cross-table rules, and only then committed; a refused
batch fails the run with a message naming the file, and leaves the stored table as it was.
"""


from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from fraud_pipelines.feature_store.statistics import StatisticsConfig, compute_statistics
from fraud_pipelines.metadata import table_metadata
from fraud_pipelines.partitions import DAILY, days_in
from fraud_pipelines.per_day import add_day_metadata, committed_materializations, day_metadata, days_text
from fraud_pipelines.privacy.tokens import CARD_COLUMN, tokenizer
from fraud_pipelines.raw.files import RawInputError
from fraud_pipelines.raw.ingest import Written, ingest_days, ingest_history
from fraud_pipelines.resources import RawSourceResource, StorageResource

GROUP = "raw"


def _refused(error: RawInputError) -> dg.Failure:
    """A refused batch as a Dagster failure whose description says what to fix."""
    return dg.Failure(description=str(error), allow_retries=False)


def _ingest_days(context: dg.AssetExecutionContext, table_name: str, storage: StorageResource,
                 raw_source: RawSourceResource) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """Ingest the run's days; each day's materialization carries that day's rows, time range, preview
    and statistics. If a chunk is refused, the days committed before it are reported materialized and
    the failure marks only the others."""
    source = raw_source.source()
    contract = raw_source.contract()
    table = storage.raw_table(table_name)
    days = days_in(context.partition_time_window)
    context.log.info(f"{table_name}: {len(days)} day(s) {days_text(days[0], days[-1])} from {source.describe()}")
    common = {"dagster/uri": table.uri, "source": source.describe(), "card_token_key": tokenizer().key_id}
    written = Written()
    try:
        source.preflight(table_name, days)
        written = ingest_days(table_name, days, lambda day: source.day_parts(table_name, day), table,
                              contract=contract,
                              charges=storage.raw_table("transactions") if table_name == "fraud_labels" else None,
                              log=context.log.info, describe=_describe_day)
    except RawInputError as error:
        yield from committed_materializations(context, _with_written(getattr(error, "written", written)), common)
        raise _refused(error) from None
    add_day_metadata(context, _with_written(written))
    yield dg.MaterializeResult(metadata={
        **common,
        "run_days": days_text(days[0], days[-1]),
        "run_rows": written.rows,
        "delta_version": written.delta_version,
        "audit": written.audit,
    })


def _describe_day(frame: pd.DataFrame) -> dict[str, Any]:
    """One day's rows as metadata: count, time range, preview, statistics (top categories for strings)."""
    strings = tuple(c for c in ("category",) if c in frame.columns)
    stats = compute_statistics(pa.Table.from_pandas(frame, preserve_index=False),
                               StatisticsConfig(histograms=strings, identifiers=(CARD_COLUMN,)))
    return day_metadata(frame, "datetime", statistics=stats)


def _with_written(written: Written) -> dict:
    """Each committed day's description, with the row count the commit reported."""
    return {day: {**written.per_day.get(day, {}), "dagster/row_count": rows}
            for day, rows in written.rows_per_day.items()}


def _ingest_history(table_name: str, storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    source = raw_source.source()
    table = storage.raw_table(table_name)
    try:
        frame, result, audited = ingest_history(table_name, source.history(table_name), table,
                                                contract=raw_source.contract())
    except RawInputError as error:
        raise _refused(error) from None
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame,
            uri=table.uri,
            time_column="event_time",
            entities=int(frame["cc_num"].nunique()),
            versions_per_entity=round(len(frame) / max(frame["cc_num"].nunique(), 1), 2),
            delta_version=result["delta_version"],
            rows_appended=result["rows_appended"],
            history_write=result["operation"],
            source=source.describe(),
            audit=audited,
            card_token_key=tokenizer().key_id,
        )
    )


_PARTITIONED = dict(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "pandas"},
)


@dg.asset(description="Card transactions (tid, cc_num, datetime, category, amount, latitude, longitude), "
                      "one Delta partition per UTC day.", pool="raw_transactions", **_PARTITIONED)
def raw_transactions(context: dg.AssetExecutionContext, storage: StorageResource,
                     raw_source: RawSourceResource) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    yield from _ingest_days(context, "transactions", storage, raw_source)


@dg.asset(description="Fraud labels per transaction (tid, cc_num, datetime, is_fraud, label_time), "
                      "partitioned by the transaction's UTC day; each label must match a stored charge.",
          deps=[raw_transactions], pool="raw_fraud_labels", **_PARTITIONED)
def raw_fraud_labels(context: dg.AssetExecutionContext, storage: StorageResource,
                     raw_source: RawSourceResource) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    yield from _ingest_days(context, "fraud_labels", storage, raw_source)


@dg.asset(pool="raw_profiles", group_name=GROUP, kinds={"delta", "pandas"},
          description="Card owners' history (name, sex, birthdate, city, country) by event time: a move is a new row.")
def raw_profiles(storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_history("profiles", storage, raw_source)


@dg.asset(pool="raw_credit_cards", group_name=GROUP, kinds={"delta", "pandas"},
          description="Cards' history (provider, expiry) by event time: a reissue is a new row.")
def raw_credit_cards(storage: StorageResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
    return _ingest_history("credit_cards", storage, raw_source)


RAW_ASSETS = [raw_transactions, raw_fraud_labels, raw_profiles, raw_credit_cards]
