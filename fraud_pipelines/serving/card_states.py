"""The per-card state behind online scoring: read from the online store for a request, merged
one charge at a time by the authenticated write path (atomically per card, by (time, tid)), and
rebuilt from the offline feature group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from feature_logic.card_state import (
    RECENT_INPUT_COLUMNS,
    decode_charges,
    decode_versions,
    recent_charges,
)
from feature_logic.request_features import WINDOW_MICROSECONDS, StoredCharge, Version, complete_loc_deltas
from feature_logic.windows import DEFAULT_WINDOW
from fraud_pipelines.feature_store.event_lists import EventMerge, event_item
from fraud_pipelines.features import groups as feature_groups
from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES, CARD_VERSIONS

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class CardState:
    """What the online store holds for one card; `known` / `has_versions` say whether rows exist."""

    charges: tuple[StoredCharge, ...]
    profile_versions: tuple[Version, ...]
    card_versions: tuple[Version, ...]
    known: bool
    has_versions: bool


class CardStateStore:
    """Prepared online reads and writes of the two card groups of one feature store."""

    def __init__(self, fs: Any) -> None:
        """Needs both groups to hold data (their assets have run); raises NotFoundError otherwise."""
        self.online = fs.online_store
        self.charges_table = CARD_RECENT_CHARGES.get_or_create(fs).online_table()
        self.versions_table = CARD_VERSIONS.get_or_create(fs).online_table()
        for table in (self.charges_table, self.versions_table):
            self.online.update(table)
        wanted = [(self.charges_table, ["charges"]), (self.versions_table, ["profile_versions", "card_versions"])]
        joined = getattr(self.online, "joined_lookup", None)  # one round trip for both, where the store can
        if joined is not None:
            self._fetch = joined(wanted)
        else:
            lookups = [self.online.lookup(table, columns) for table, columns in wanted]
            self._fetch = lambda key: [fetch(key) for fetch in lookups]
        self._fetch_charges = self.online.lookup(self.charges_table, ["charges"])
        joined_async = getattr(self.online, "joined_lookup_async", None)  # an asyncio client (Redis)
        self._fetch_async = joined_async(wanted) if joined_async is not None else None
        many_async = getattr(self.online, "joined_lookup_many_async", None)  # many cards in one round trip
        self._fetch_many_async = many_async(wanted) if many_async is not None else None
        many = getattr(self.online, "joined_lookup_many", None)
        self._fetch_many = many(wanted) if many is not None else None

    async def aclose(self) -> None:
        """Release the store's event-loop connections, if it has any (Redis' asyncio client)."""
        close = getattr(self.online, "aclose", None)
        if close is not None:
            await close()

    @property
    def reads_async(self) -> bool:
        """Whether `get_async` reads without blocking the event loop (else call `get` off the loop)."""
        return self._fetch_async is not None

    def get(self, cc_num: int) -> CardState:
        """The card's state; empty (and not `known`) for a card the store has never seen."""
        return _state(*self._fetch((cc_num,)))

    def get_many(self, cc_nums: list[int]) -> list[CardState]:
        """`get` for several cards in one go (one hop to a reader thread for all of them): on SQLite one
        statement for all of them, so each card's two rows are as consistent together as with `get`."""
        if len(cc_nums) > 1 and self._fetch_many is not None:  # one statement for all
            return [_state(*rows) for rows in self._fetch_many([(cc_num,) for cc_num in cc_nums])]
        fetch = self._fetch
        return [_state(*fetch((cc_num,))) for cc_num in cc_nums]

    async def get_many_async(self, cc_nums: list[int]) -> list[CardState]:
        """`get_async` for several cards, their reads in flight together (only where `reads_async`)."""
        if self._fetch_many_async is not None:
            return [_state(*rows) for rows in await self._fetch_many_async([(cc_num,) for cc_num in cc_nums])]
        if len(cc_nums) == 1:
            return [await self.get_async(cc_nums[0])]
        return list(await asyncio.gather(*(self.get_async(cc_num) for cc_num in cc_nums)))

    async def get_async(self, cc_num: int) -> CardState:
        """`get` through the store's asyncio client (only where `reads_async`)."""
        if self._fetch_async is None:
            raise TypeError(f"{type(self.online).__name__} has no asyncio reads; call get() off the event loop")
        return _state(*await self._fetch_async((cc_num,)))

    def add_charge(self, cc_num: int, micros: int, tid: int | str, latitude: float, longitude: float,
                   amount: float) -> EventMerge:
        """Merge one charge into the card's recent charges, atomically for the card: refused as a
        duplicate when its tid is already there, as too old when at or before the card's latest
        charge minus the 4-hour window (the state no longer holds what it would need)."""
        item = event_item(micros, tid, latitude, longitude, amount)  # StoredCharge order, loc_delta last
        return self.online.merge_event(self.charges_table, (cc_num,), column="charges", item=item,
                                       retention_us=WINDOW_MICROSECONDS)

    def reachable(self) -> bool:
        """Whether the online store answers a read (raises nothing)."""
        try:
            self._fetch_charges((0,))
            return True
        except Exception:  # noqa: BLE001 -- any failure means "not reachable" for a health probe
            return False


def _state(charges_row: Any, versions_row: Any) -> CardState:
    """A card's state from its two online rows (None where the store has none)."""
    return CardState(
        charges=complete_loc_deltas(decode_charges(charges_row[0])) if charges_row else (),
        profile_versions=decode_versions(versions_row[0]) if versions_row else (),
        card_versions=decode_versions(versions_row[1]) if versions_row else (),
        known=charges_row is not None,
        has_versions=versions_row is not None,
    )


def write_online(fs: Any, states: pd.DataFrame) -> int:
    """Put rows of `recent_charges` into the online store only (e.g. a state rebuilt as of a past
    instant, for tests and replays); returns the rows offered."""
    table = CARD_RECENT_CHARGES.get_or_create(fs).online_table()
    fs.online_store.update(table)
    return fs.online_store.write_batch(table, pa.Table.from_pandas(states, schema=table.schema, preserve_index=False))


def recent_charges_as_of(fs: Any, at: datetime, cards: Sequence[int], *,
                         window: timedelta = DEFAULT_WINDOW) -> pd.DataFrame:
    """The state of each of a few `cards` as of `at` (their charges strictly before it), rebuilt
    from the offline `transactions` feature group."""
    transactions = feature_groups.TRANSACTIONS.get_or_create(fs)
    wanted = set(int(c) for c in cards)
    latest = transactions.as_of(at - _ONE_MICROSECOND, by=["cc_num"], columns=list(RECENT_INPUT_COLUMNS))
    latest = latest[latest["cc_num"].isin(wanted)]
    if latest.empty:
        return recent_charges(latest, end=at)
    since = latest["datetime"].min().to_pydatetime() - window
    rows = pd.concat([
        transactions.as_of(since - _ONE_MICROSECOND, by=["cc_num"], columns=list(RECENT_INPUT_COLUMNS)),
        transactions.read(since, at, columns=list(RECENT_INPUT_COLUMNS)),
    ], ignore_index=True)
    return recent_charges(rows[rows["cc_num"].isin(wanted)].reset_index(drop=True), end=at)
