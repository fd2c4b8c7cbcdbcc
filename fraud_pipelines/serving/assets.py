"""Serving assets: the per-card online state the REST service scores new charges with.

- `card_recent_charges_fg`, daily: per card active that day, its state as of the day's end (the
  charges of the 4 hours up to its latest charge and the one before them), read from the
  `transactions` feature group with a 4-hour lookback into the previous day -- declared, like
  the window aggregates'. Each run stores the charges the next day needs from before it (each
  card's charges of the last 4 hours and the one before them, `features/last_charges.py`) and reads
  those of the day before, so its cost is the day's, not the history's; without a stored one for the
  day before's build it reads them as of that time from all history, which gives the same rows.
  Backfills and daily runs write the same rows.
- `card_versions_fg`: per card, every owner-profile and card version from the raw histories.

Both groups are online-enabled: each insert also upserts the latest row per card online (SQLite
or Redis, as `StorageResource` chooses); the service writes back the charges it scores in
between.
"""


from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa

from feature_logic.card_state import (
    CARD_VERSIONS_SCHEMA,
    RECENT_CHARGES_SCHEMA,
    RECENT_INPUT_COLUMNS,
    card_versions,
    charges_before,
    recent_charges,
)
from feature_logic.windows import DEFAULT_WINDOW
from fraud_pipelines.feature_store.errors import NotFoundError
from fraud_pipelines.features import day_lineage, last_charges
from fraud_pipelines.features import groups as feature_groups
from fraud_pipelines.features.writes import group_metadata, write_by_chunks
from fraud_pipelines.partitions import DAILY, WITH_PREVIOUS_DAY, days_in
from fraud_pipelines.resources import StorageResource
from fraud_pipelines.serving import groups
from fraud_pipelines.tables import day_window

GROUP = "serving"
_ONE_MICROSECOND = timedelta(microseconds=1)


@dg.asset(
    pool="card_recent_charges_fg",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "numpy"},
    deps=[dg.AssetDep("transactions_fg", partition_mapping=WITH_PREVIOUS_DAY)],
    description=groups.CARD_RECENT_CHARGES.description,
)
def card_recent_charges_fg(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fs = storage.feature_store()
    source = feature_groups.TRANSACTIONS.get_or_create(fs)
    fg = groups.CARD_RECENT_CHARGES.get_or_create(fs)
    days = days_in(context.partition_time_window)
    stamps = {day: str(b.stamp) for day, b in day_lineage.lineage_of(storage).builds(day_lineage.TRANSACTIONS).items()}
    carried_store = last_charges.state_charges_of(storage)
    before = days[0] - day_lineage.ONE_DAY
    carried = carried_store.read(before, stamps.get(before))  # stored by the run that built the day before

    def build(start: datetime, end: datetime) -> pa.Table:
        nonlocal carried  # the charges before `start` that the states need, carried from chunk to chunk
        if carried is None:
            charges = _charges_for_states(source, start, end)
        else:
            charges = pd.concat([carried, source.read(start, end, columns=list(RECENT_INPUT_COLUMNS))],
                                ignore_index=True)
        states = pd.concat(
            [recent_charges(charges, start=day_start, end=day_end)
             for day_start, day_end in (day_window(d) for d in days if start.date() <= d < end.date())],
            ignore_index=True,
        )
        carried = charges_before(charges, end=end)
        return pa.Table.from_pandas(states, schema=RECENT_CHARGES_SCHEMA, preserve_index=False)

    def store_carried(written: list, version: int) -> None:  # for the next run: the charges before its day
        stamp = stamps.get(written[-1])
        if stamp is not None:
            carried_store.write(written[-1], int(stamp), carried)

    rows, last = write_by_chunks(context, fg, days, "card_recent_charges", build, store_carried)
    last = last.to_pandas() if last is not None else None
    return dg.MaterializeResult(
        metadata=group_metadata(fg, last, rows, groups.CARD_RECENT_CHARGES, days=len(days),
                                online_store=storage.online_store_kind())
    )


def _charges_for_states(source, start, end) -> pd.DataFrame:
    """The rows `recent_charges` needs for cards active in [start, end): their charges from
    start - 4h on, and each card's last charge before that."""
    since = start - DEFAULT_WINDOW
    try:
        before = source.as_of(since - _ONE_MICROSECOND, by=["cc_num"], columns=list(RECENT_INPUT_COLUMNS))
    except NotFoundError:
        before = None
    recent = source.read(since, end, columns=list(RECENT_INPUT_COLUMNS))
    return recent if before is None or before.empty else pd.concat([before, recent], ignore_index=True)


@dg.asset(
    pool="card_versions_fg",  # one writer per table at a time (dagster.yaml sets the limit)
    group_name=GROUP,
    kinds={"delta"},
    deps=["raw_profiles", "raw_credit_cards"],
    description=groups.CARD_VERSIONS.description,
)
def card_versions_fg(storage: StorageResource) -> dg.MaterializeResult:
    fg = groups.CARD_VERSIONS.get_or_create(storage.feature_store())
    versions = card_versions(storage.raw_table("profiles").read(), storage.raw_table("credit_cards").read())
    fg.insert(pa.Table.from_pandas(versions, schema=CARD_VERSIONS_SCHEMA, preserve_index=False))
    return dg.MaterializeResult(
        metadata=group_metadata(fg, versions, len(versions), groups.CARD_VERSIONS,
                                online_store=storage.online_store_kind())
    )


SERVING_ASSETS = [card_recent_charges_fg, card_versions_fg]
