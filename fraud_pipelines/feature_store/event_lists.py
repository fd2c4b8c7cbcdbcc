"""Event-list columns: a row's recent events as JSON `[[time_us, id, ..., derived], ...]` sorted
by (time, id), kept for a retention window, and merged one event at a time.

`merge_event` is the rule both online stores apply atomically per row (SQLite in one
transaction, Redis in a Lua script that mirrors it on the JSON text): an event whose id is
already listed is a duplicate; an event at or before `newest - retention` is too old (the
list no longer holds what it would need); otherwise it is inserted in (time, id) order, never
replacing the list wholesale, so concurrent writers of one row lose nothing. The last field of
an item may be derived from the item before it: the store writes it as null on the inserted
item and on its successor, and the reader recomputes it. After the merge the list keeps the
events in (newest - retention, newest] and the one just before them.

Times are integer microseconds (exact below 2**53, i.e. before the year 2255). Ids are all
non-negative integers or all strings within one list (a list holding both is refused): integers
order by value, strings by code point (the order Python, Arrow and DuckDB give strings; the
Redis script compares their UTF-8 bytes, which is the same order).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from .errors import InvalidInputError


class EventMerge(str, Enum):
    """What `merge_event` did with one event."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # the id is already in the list
    TOO_OLD = "too_old"  # at or before the newest listed time minus the retention


def event_item(time_us: int, event_id: int | str, *payload: Any) -> str:
    """The JSON text of one new item (its derived last field left null for the reader)."""
    if isinstance(event_id, bool) or not isinstance(event_id, (int, str)):
        raise InvalidInputError(f"event ids are integers or strings, got {type(event_id).__name__}")
    return json.dumps([time_us, event_id, *payload, None], separators=(",", ":"), allow_nan=False)


def merge_event(text: str | None, item: str, *, retention_us: int) -> tuple[EventMerge, str | None, int | None]:
    """(outcome, the new list text, its newest time) after merging `item` into the list `text`;
    the text and time are None unless the outcome is STORED."""
    items = json.loads(text) if text else []
    new = json.loads(item)
    time_us, event_id = int(new[0]), _event_id(new[1])
    kind = type(event_id)
    if any(type(_event_id(listed[1])) is not kind for listed in items):
        raise InvalidInputError(f"event id {event_id!r} is a {kind.__name__}, but the list holds ids of another "
                                "type; one list's ids must all be integers or all strings")
    if any(_event_id(listed[1]) == event_id for listed in items):
        return EventMerge.DUPLICATE, None, None
    if items and time_us <= int(items[-1][0]) - retention_us:
        return EventMerge.TOO_OLD, None, None
    position = next((i for i, listed in enumerate(items)
                     if (time_us, event_id) < (int(listed[0]), _event_id(listed[1]))), len(items))
    new[-1] = None
    items.insert(position, new)
    if position + 1 < len(items):
        items[position + 1][-1] = None  # its predecessor changed
    newest = int(items[-1][0])
    first_inside = next(i for i, listed in enumerate(items) if int(listed[0]) > newest - retention_us)
    kept = items[max(first_inside - 1, 0):]
    return EventMerge.STORED, json.dumps(kept, separators=(",", ":")), newest


def _event_id(value: Any) -> int | str:
    """An id as listed: a string stays a string, a number is an integer."""
    return value if isinstance(value, str) else int(value)
