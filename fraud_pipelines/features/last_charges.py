"""Each card's last charge at the end of a feature day, carried from one `transactions_fg` run to the next.

A day's `loc_delta_t_minus_1`/`time_delta_t_minus_1` need each card's previous charge, however long
ago. Reading it point-in-time from the feature group scans all history, so a daily run would grow
slower every day. Instead every run stores, for the last day it built, the state it carried (one row
per card ever seen: `feature_logic.transactions.PREVIOUS_COLUMNS`) with the Delta version of
`transactions_fg` that wrote that day. The next run reads that one partition when its stamp is the
one the day lineage records for the day before; otherwise (no state, or the day was rebuilt since)
it falls back to the as-of read, which gives the same rows. Stored as a small Delta table
partitioned by day beside the lineage; only the newest `KEEP_DAYS` states are kept.

The same table shape carries the card states' charges (`feature_logic.card_state.charges_before`:
each card's charges of the last 4 hours and the one before them) from one `card_recent_charges_fg`
run to the next, stamped with the `transactions_fg` build of the day they end (`state_charges_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from feature_logic.card_state import RECENT_INPUT_COLUMNS
from feature_logic.transactions import PREVIOUS_COLUMNS

DAY = "day"
STAMP = "stamp"
#: States older than this many days before the newest one are removed when a new one is stored.
KEEP_DAYS = 7


class LastCharges:
    """The carried-state table under `uri`: one partition per stored day, holding `columns`."""

    def __init__(self, uri: str, *, storage_options: Mapping[str, str] | None = None,
                 columns: Sequence[str] = PREVIOUS_COLUMNS) -> None:
        self.uri = uri
        self.storage_options = dict(storage_options or {}) or None
        self.columns = tuple(columns)

    def _exists(self) -> bool:
        return DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options)

    def read(self, day: date, stamp: str | None) -> pd.DataFrame | None:
        """Each card's last charge up to the end of `day`, if stored for the build `stamp` of that day
        (the `transactions_fg` Delta version that wrote it); None otherwise."""
        if stamp is None or not self._exists():
            return None
        table = DeltaTable(self.uri, storage_options=self.storage_options)
        data = pa.RecordBatchReader.from_stream(
            table.scan(columns=[STAMP, *self.columns], predicate=f"{DAY} = '{day.isoformat()}'")).read_all()
        if data.num_rows == 0 or set(map(str, data[STAMP].unique().to_pylist())) != {str(stamp)}:
            return None
        return data.drop_columns([STAMP]).to_pandas()

    def write(self, day: date, stamp: int, state: pd.DataFrame | None) -> None:
        """Store the state at the end of `day`, built by `stamp`, replacing that day's and dropping states
        more than `KEEP_DAYS` days older, in one commit."""
        if state is None or not len(state):
            return
        data = pa.Table.from_pandas(state[list(self.columns)], preserve_index=False)
        data = data.append_column(STAMP, pa.array([stamp] * data.num_rows, pa.int64()))
        data = data.append_column(DAY, pa.array([day.isoformat()] * data.num_rows, pa.string()))
        if not self._exists():
            write_deltalake(self.uri, data, partition_by=[DAY], storage_options=self.storage_options)
            return
        oldest = (day - timedelta(days=KEEP_DAYS)).isoformat()
        write_deltalake(self.uri, data, mode="overwrite", partition_by=[DAY], storage_options=self.storage_options,
                        predicate=f"{DAY} = '{day.isoformat()}' OR {DAY} < '{oldest}'")


def last_charges_of(storage: object) -> LastCharges:
    """The carried-state table of a `Storage` (or `StorageResource`): `<root>/lineage/card_last_charges`."""
    return LastCharges(f"{storage.location}/lineage/card_last_charges", storage_options=storage.storage_options)


def state_charges_of(storage: object) -> LastCharges:
    """The charges carried for the card states (`RECENT_INPUT_COLUMNS`):
    `<root>/lineage/card_state_charges`."""
    return LastCharges(f"{storage.location}/lineage/card_state_charges", storage_options=storage.storage_options,
                       columns=RECENT_INPUT_COLUMNS)
