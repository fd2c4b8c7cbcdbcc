"""Feature assets: the `transactions`, `transactions_4h_aggs` and `fraud_labels` feature groups.

One code path for backfills and daily runs: a run covers a partition window (one day, or a
whole backfill range as one run), walks it in chunks of days and calls the same pure
`feature_logic` functions on each chunk. The functions give identical bits whatever the chunk
boundaries, so a backfill and N daily runs write identical rows. Every chunk is validated
against its group's suite before its commit (write-audit-publish, `features/writes.py`).

History a day needs is declared, not read behind Dagster's back:
- `transactions_fg` depends on its own previous partition: a card's previous charge (however
  long ago) comes from the state the run that built the previous day stored
  (`features/last_charges.py`), or, without one, point-in-time from the feature group itself.
- `transactions_4h_aggs` depends on the previous partition of `transactions_fg`: the last 4
  hours of the day before are part of the first windows of the day.

Days are built in order (`features/day_lineage.py`): a run whose first day's previous day has no
features, or features out of date, is refused with a message naming that day, and every build
records what it read, so a later change to any of it marks the day out of date until rebuilt.
"""

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from feature_logic.transactions import (
    PREVIOUS_COLUMNS,
    MissingHistoryWarning,
    last_transaction_per_card,
    prepare_histories,
    transaction_features,
)
from feature_logic.windows import DEFAULT_WINDOW, WINDOW_INPUT_COLUMNS, window_aggregates
from fraud_pipelines.feature_store.errors import NotFoundError
from fraud_pipelines.features import day_lineage, groups, last_charges
from fraud_pipelines.features.writes import chunks, group_metadata, typed_table, write_days  # noqa: F401 (chunks: re-export)
from fraud_pipelines.partitions import DAILY, PREVIOUS_DAY, WITH_PREVIOUS_DAY, days_in
from fraud_pipelines.per_day import days_text, split_by_day
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.settings import start_date
from fraud_pipelines.tables import day_window

GROUP = "features"
ONE_MICROSECOND = timedelta(microseconds=1)


@dg.asset(
    pool="transactions_fg",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "duckdb"},
    deps=[
        "raw_transactions",
        "raw_profiles",
        "raw_credit_cards",
        dg.AssetDep("transactions_fg", partition_mapping=PREVIOUS_DAY),
    ],
    description=groups.TRANSACTIONS.description,
)
def transactions_fg(context: dg.AssetExecutionContext, storage: StorageResource) -> Iterator[Any]:
    fs = storage.feature_store()
    days = days_in(context.partition_time_window)
    _refuse_out_of_order(storage, day_lineage.TRANSACTIONS, days)
    lineage = day_lineage.lineage_of(storage)
    stamps = {day: str(build.stamp) for day, build in lineage.builds(day_lineage.TRANSACTIONS).items()}
    raw_stamps = day_lineage.raw_day_stamps(storage.raw_table("transactions"))
    fg = groups.TRANSACTIONS.for_writing(fs)
    # Checked and grouped by card once: each chunk's lookup is then a binary search, not a sort.
    profiles, cards = prepare_histories(storage.raw_table("profiles").read(), storage.raw_table("credit_cards").read())
    raw = storage.raw_table("transactions")
    states = last_charges.last_charges_of(storage)
    before = days[0] - day_lineage.ONE_DAY
    previous = states.read(before, stamps.get(before))  # the state the run that built that day stored
    if previous is None:  # none stored for that build: the same rows, read point-in-time from all history
        previous = _previous_charges(fg, day_window(days[0])[0])

    def build(start: datetime, end: datetime) -> pa.Table:
        nonlocal previous  # each card's last charge, carried from chunk to chunk
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MissingHistoryWarning)
            features = transaction_features(raw.read(start, end), profiles, cards, previous)
        for warning in caught:  # charges of cards without any history: kept, with nulls
            if issubclass(warning.category, MissingHistoryWarning):
                context.log.warning(f"transactions from {start:%Y-%m-%d}: {warning.message}")
            else:
                warnings.warn(warning.message, warning.category, stacklevel=1)
        latest = features[list(PREVIOUS_COLUMNS)]
        carried = [latest] if previous is None else [previous, latest]
        previous = last_transaction_per_card(pd.concat(carried, ignore_index=True))
        return typed_table(features, strings=("tid", "category", "sex", "lives_city"))

    def record(written: list, version: int) -> None:  # each day: its raw files and the previous day it read
        builds = []
        for day in written:
            inputs = {"raw": raw_stamps.get(day, ""), "previous": stamps.get(day - day_lineage.ONE_DAY)}
            builds.append(day_lineage.DayBuild(day_lineage.TRANSACTIONS, day, version, inputs))
            stamps[day] = str(version)
        lineage.record(builds)
        states.write(written[-1], version, previous)  # `previous` now ends with the chunk's last day

    rows, last = yield from write_days(context, fg, days, "transactions", build, record)
    yield dg.MaterializeResult(metadata=group_metadata(fg, last, rows, groups.TRANSACTIONS, **_run(days)))


def _previous_charges(fg, before: datetime) -> pd.DataFrame | None:
    """Each card's last charge strictly before `before`, read point-in-time from the group itself."""
    try:
        return fg.as_of(before - ONE_MICROSECOND, by=["cc_num"], columns=list(PREVIOUS_COLUMNS))
    except NotFoundError:  # nothing stored yet: every card starts fresh
        return None


@dg.asset(
    pool="transactions_4h_aggs",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "numpy"},
    deps=[dg.AssetDep(transactions_fg, partition_mapping=WITH_PREVIOUS_DAY)],
    description=groups.TRANSACTIONS_4H_AGGS.description,
)
def transactions_4h_aggs(context: dg.AssetExecutionContext, storage: StorageResource) -> Iterator[Any]:
    fs = storage.feature_store()
    days = days_in(context.partition_time_window)
    _refuse_out_of_order(storage, day_lineage.WINDOWS, days)
    lineage = day_lineage.lineage_of(storage)
    read = {day: str(build.stamp) for day, build in lineage.builds(day_lineage.TRANSACTIONS).items()}
    source = groups.TRANSACTIONS.get_or_create(fs)
    fg = groups.TRANSACTIONS_4H_AGGS.for_writing(fs)

    def record(written: list, version: int) -> None:  # each day: the two transactions_fg days it read
        lineage.record([day_lineage.DayBuild(day_lineage.WINDOWS, day, version,
                                             {"same": read.get(day), "previous": read.get(day - day_lineage.ONE_DAY)})
                        for day in written])

    rows, last = yield from write_days(
        context, fg, days, "transactions_4h_aggs",
        lambda start, end: typed_table(
            window_aggregates(source.read(start_time=start - DEFAULT_WINDOW, end_time=end,
                                          columns=list(WINDOW_INPUT_COLUMNS)),  # what it reads: 5 of 13
                              start=start, end=end),
            strings=("tid",)),
        record,
    )
    yield dg.MaterializeResult(metadata=group_metadata(fg, last, rows, groups.TRANSACTIONS_4H_AGGS, **_run(days)))


@dg.asset(
    pool="fraud_labels_fg",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta"},
    deps=["raw_fraud_labels"],
    description=groups.FRAUD_LABELS.description,
)
def fraud_labels_fg(context: dg.AssetExecutionContext, storage: StorageResource) -> Iterator[Any]:
    fg = groups.FRAUD_LABELS.for_writing(storage.feature_store())
    days = days_in(context.partition_time_window)
    raw = storage.raw_table("fraud_labels")
    frauds = 0

    def build(start: datetime, end: datetime) -> pa.Table:
        nonlocal frauds
        labels = raw.read(start, end)
        frauds += int(labels["is_fraud"].sum())
        for day, rows in split_by_day(labels, "datetime", [d for d in days if start.date() <= d < end.date()]).items():
            day_frauds = int(rows["is_fraud"].sum()) if len(rows) else 0
            rate = round(day_frauds / len(rows), 5) if len(rows) else 0.0
            context.add_asset_metadata({"frauds": day_frauds, "fraud_rate": rate}, partition_key=day.isoformat())
        return typed_table(labels, strings=("tid",))

    rows, last = yield from write_days(context, fg, days, "fraud_labels", build)
    yield dg.MaterializeResult(
        metadata=group_metadata(fg, last, rows, groups.FRAUD_LABELS, **_run(days), run_frauds=frauds,
                                run_fraud_rate=round(frauds / rows, 5) if rows else 0.0)
    )


def _refuse_out_of_order(storage: StorageResource, asset: str, days: list) -> None:
    """Fail before anything is read when a feature day this run reads from outside it is missing or out
    of date: computed now, the run's days would be wrong and look right."""
    problem = day_lineage.previous_day_problem(storage, asset, days, start_date())
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)


def _run(days: list) -> dict:
    """What the whole run covered; each day's own figures are on its partition."""
    return {"run_days": days_text(days[0], days[-1])}


FEATURE_ASSETS = [transactions_fg, transactions_4h_aggs, fraud_labels_fg]
