"""`merge_event` with string ids, on both online stores: the same outcomes and stored text as the
Python rule for seeded random streams of awkward ids (brackets, quotes, backslashes, commas,
accents, emoji, digits that sort differently as text), ordered by (time, id) with ids compared as
Python compares strings; a list never mixes integer and string ids."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store import OnlineTableSpec
from fraud_pipelines.feature_store.errors import InvalidInputError
from fraud_pipelines.feature_store.event_lists import EventMerge, event_item, merge_event

from .test_online_store_events import BASE, HOUR, RETENTION

SCHEMA = pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")), ("events", pa.string())])
SPEC = OnlineTableSpec(name="recent_text_v1", key_columns=("card",), event_time="t", schema=SCHEMA)
PIECES = ["T", "9", "10", "[", "]", '"', "\\", ",", " ", "é", "Ж", "😀", "a", "Z", "null", "-1", "{}"]


def _stream(seed: int, n: int = 150) -> list[str]:
    """Events of one key with string ids: many at equal times (the id decides), some late, some repeated."""
    rng = np.random.default_rng(seed)
    clock, items, ids = BASE, [], []
    for _ in range(n):
        clock += int(rng.choice([0, 0, 1, int(rng.integers(1, HOUR // 3))]))
        when = clock - int(rng.integers(0, 6 * HOUR)) if rng.random() < 0.15 else clock
        fresh = "".join(rng.choice(PIECES, size=int(rng.integers(1, 6))))
        event_id = str(rng.choice(ids)) if ids and rng.random() < 0.1 else fresh
        ids.append(event_id)
        items.append(event_item(when, event_id, float(rng.normal(45, 10)), float(rng.lognormal(3, 1))))
    return items


@pytest.mark.parametrize("seed", range(3))
def test_string_ids_merge_like_the_python_rule(online_store, seed):
    expected_text, outcomes = None, []
    for item in _stream(seed):
        outcome, text, _ = merge_event(expected_text, item, retention_us=RETENTION)
        if outcome is EventMerge.STORED:
            expected_text = text
        outcomes.append(outcome)
        assert online_store.merge_event(SPEC, (7,), column="events", item=item, retention_us=RETENTION) is outcome, item
        assert online_store.read(SPEC, [(7,)], ["events"]) == [(expected_text,)]
    assert set(outcomes) == set(EventMerge)
    listed = json.loads(expected_text)
    keys = [(e[0], e[1]) for e in listed]
    assert keys == sorted(keys) and len({k[1] for k in keys}) == len(keys)
    assert any(a[0] == b[0] for a, b in zip(listed, listed[1:]))  # equal times were ordered by id


def test_text_order_not_number_order_and_exact_ids(online_store):
    for event_id in ("9", "10", "T-1", "t-1"):
        item = event_item(BASE, event_id, 1.0)
        assert online_store.merge_event(SPEC, (1,), column="events", item=item,
                                        retention_us=RETENTION) is EventMerge.STORED
    listed = json.loads(online_store.read(SPEC, [(1,)], ["events"])[0][0])
    assert [e[1] for e in listed] == ["10", "9", "T-1", "t-1"]  # as text, as the batch orders them
    again = event_item(BASE + 5, "9", 2.0)
    assert online_store.merge_event(SPEC, (1,), column="events", item=again,
                                    retention_us=RETENTION) is EventMerge.DUPLICATE


def test_a_list_never_mixes_integer_and_string_ids(online_store):
    assert online_store.merge_event(SPEC, (2,), column="events", item=event_item(BASE, 5, 1.0),
                                    retention_us=RETENTION) is EventMerge.STORED
    with pytest.raises(InvalidInputError, match="integers or all strings"):
        online_store.merge_event(SPEC, (2,), column="events", item=event_item(BASE + 1, "5", 1.0),
                                 retention_us=RETENTION)
    assert json.loads(online_store.read(SPEC, [(2,)], ["events"])[0][0]) == [[BASE, 5, 1.0, None]]  # unchanged
    with pytest.raises(InvalidInputError, match="integers or strings"):
        event_item(BASE, 5.0, 1.0)
