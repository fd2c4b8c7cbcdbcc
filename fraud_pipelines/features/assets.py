"""Feature assets: the `transactions`, `transactions_4h_aggs` and `fraud_labels` feature groups.

One code path for backfills and daily runs: a run covers a partition window (one day, or a
whole backfill range as one run), walks it in chunks of days and calls the same pure
`feature_logic` functions on each chunk. The functions give identical bits whatever the chunk
boundaries, so a backfill and N daily runs write identical rows.

History a day needs is declared, not read behind Dagster's back:
- `transactions_fg` depends on its own previous partition: a card's previous charge (however
  long ago) is read point-in-time from the feature group itself, which holds every earlier day.
- `transactions_4h_aggs` depends on the previous partition of `transactions_fg`: the last 4
  hours of the day before are part of the first windows of the day.
"""

import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from feature_logic.transactions import PREVIOUS_COLUMNS, last_transaction_per_card, transaction_features
from feature_logic.windows import DEFAULT_WINDOW, window_aggregates
from fraud_pipelines.feature_store.errors import NotFoundError
from fraud_pipelines.features import groups
from fraud_pipelines.metadata import preview, time_range
from fraud_pipelines.partitions import DAILY, PREVIOUS_DAY, WITH_PREVIOUS_DAY, days_in
from fraud_pipelines.raw.assets import raw_credit_cards, raw_fraud_labels, raw_profiles, raw_transactions
from fraud_pipelines.tables import day_window
from fraud_pipelines.resources import StorageResource

GROUP = "features"
#: Days handled per feature-group commit inside one run; bounds memory on long backfills.
CHUNK_DAYS = 10
ONE_MICROSECOND = timedelta(microseconds=1)



def chunks(days: list[date], size: int = CHUNK_DAYS) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of at most `size` days covering `days`."""
    for i in range(0, len(days), size):
        part = days[i : i + size]
        yield day_window(part[0])[0], day_window(part[-1])[1]


def write_by_chunks(context: dg.AssetExecutionContext, fg, days: list[date], label: str,
                    build: Callable[[datetime, datetime], pd.DataFrame]) -> tuple[int, pd.DataFrame | None]:
    """Build each chunk's rows with `build(start, end)` and replace that chunk in `fg`, logging progress.

    Returns the rows written and the last chunk (for the preview)."""
    rows, last, started = 0, None, time.perf_counter()
    for start, end in chunks(days):
        frame = build(start, end)
        fg.insert(frame, replace_time_range=(start, end))
        rows, last = rows + len(frame), frame
        context.log.info(f"{label}: {start:%Y-%m-%d}..{end - ONE_MICROSECOND:%Y-%m-%d} {len(frame):,} rows "
                         f"({rows:,} so far, {time.perf_counter() - started:.1f}s)")
    return rows, last


def group_metadata(fg, written: pd.DataFrame | None, rows: int, spec: groups.GroupSpec, **extra) -> dict:
    """Rows, time range, preview and the statistics computed on insert."""
    meta = {
        "dagster/row_count": rows,
        "feature_group": f"{spec.name} v{spec.version}",
        "primary_key": ", ".join(spec.primary_key),
        "online_enabled": spec.online_enabled,
        "features": dg.MetadataValue.md(
            "\n".join(f"- `{name}`: {text}" for name, text in spec.feature_descriptions.items())
        ),
        **extra,
    }
    if written is not None and not written.empty:
        meta["preview"] = preview(written)
        meta.update(time_range(written, spec.event_time))
    statistics = fg.statistics()
    if statistics:
        meta["statistics_last_commit"] = dg.MetadataValue.json(statistics)
    return meta


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "duckdb"},
    deps=[
        raw_transactions,
        raw_profiles,
        raw_credit_cards,
        dg.AssetDep("transactions_fg", partition_mapping=PREVIOUS_DAY),
    ],
    description=groups.TRANSACTIONS.description,
)
def transactions_fg(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fs = storage.feature_store()
    fg = groups.TRANSACTIONS.get_or_create(fs)
    days = days_in(context.partition_time_window)
    profiles = storage.raw_table("profiles").read()
    cards = storage.raw_table("credit_cards").read()
    raw = storage.raw_table("transactions")
    previous = _previous_charges(fg, day_window(days[0])[0])

    def build(start: datetime, end: datetime) -> pd.DataFrame:
        nonlocal previous  # each card's last charge, carried from chunk to chunk
        features = transaction_features(raw.read(start, end), profiles, cards, previous)
        carried = [features[list(PREVIOUS_COLUMNS)]] if previous is None else [previous, features[list(PREVIOUS_COLUMNS)]]
        previous = last_transaction_per_card(pd.concat(carried, ignore_index=True))
        return features

    rows, last = write_by_chunks(context, fg, days, "transactions", build)
    return dg.MaterializeResult(metadata=group_metadata(fg, last, rows, groups.TRANSACTIONS, days=len(days)))


def _previous_charges(fg, before: datetime) -> pd.DataFrame | None:
    """Each card's last charge strictly before `before`, read point-in-time from the group itself."""
    try:
        return fg.as_of(before - ONE_MICROSECOND, by=["cc_num"], columns=list(PREVIOUS_COLUMNS))
    except NotFoundError:  # nothing stored yet: every card starts fresh
        return None


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "numpy"},
    deps=[dg.AssetDep(transactions_fg, partition_mapping=WITH_PREVIOUS_DAY)],
    description=groups.TRANSACTIONS_4H_AGGS.description,
)
def transactions_4h_aggs(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fs = storage.feature_store()
    source = groups.TRANSACTIONS.get_or_create(fs)
    fg = groups.TRANSACTIONS_4H_AGGS.get_or_create(fs)
    days = days_in(context.partition_time_window)
    rows, last = write_by_chunks(
        context, fg, days, "transactions_4h_aggs",
        lambda start, end: window_aggregates(source.read(start_time=start - DEFAULT_WINDOW, end_time=end),
                                             start=start, end=end),
    )
    return dg.MaterializeResult(metadata=group_metadata(fg, last, rows, groups.TRANSACTIONS_4H_AGGS, days=len(days)))


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta"},
    deps=[raw_fraud_labels],
    description=groups.FRAUD_LABELS.description,
)
def fraud_labels_fg(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fg = groups.FRAUD_LABELS.get_or_create(storage.feature_store())
    days = days_in(context.partition_time_window)
    raw = storage.raw_table("fraud_labels")
    frauds = 0

    def build(start: datetime, end: datetime) -> pd.DataFrame:
        nonlocal frauds
        labels = raw.read(start, end)
        frauds += int(labels["is_fraud"].sum())
        return labels

    rows, last = write_by_chunks(context, fg, days, "fraud_labels", build)
    return dg.MaterializeResult(
        metadata=group_metadata(fg, last, rows, groups.FRAUD_LABELS, days=len(days), frauds=frauds,
                                fraud_rate=round(frauds / rows, 5) if rows else 0.0)
    )


FEATURE_ASSETS = [transactions_fg, transactions_4h_aggs, fraud_labels_fg]
