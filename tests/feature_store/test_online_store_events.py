"""`merge_event` on both online stores: the same outcomes and the same stored text as the Python
rule (`event_lists.merge_event`) for seeded random event streams with duplicates, late events,
equal times and ids of every length; concurrent writers of one key lose nothing; rows written by
`write_batch` (the pipeline) are merged into, never replaced."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store import OnlineTableSpec
from fraud_pipelines.feature_store.errors import InvalidInputError
from fraud_pipelines.feature_store.event_lists import EventMerge, event_item, merge_event

SCHEMA = pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC")), ("events", pa.string()),
                    ("note", pa.string())])
SPEC = OnlineTableSpec(name="recent_v1", key_columns=("card",), event_time="t", schema=SCHEMA)
HOUR = 3_600_000_000
RETENTION = 4 * HOUR
BASE = 1_735_689_600_000_000  # 2025-01-01


def _stream(seed: int, n: int = 120) -> list[str]:
    """Events of one key: mostly increasing times, some late, some at equal times, repeated ids."""
    rng = np.random.default_rng(seed)
    clock, items, ids = BASE, [], []
    for i in range(n):
        clock += int(rng.integers(0, HOUR // 2))
        when = clock - int(rng.integers(0, 6 * HOUR)) if rng.random() < 0.2 else clock
        fresh = int(rng.integers(0, 10 ** int(rng.integers(1, 19))))
        event_id = int(rng.choice(ids)) if ids and rng.random() < 0.1 else fresh
        ids.append(event_id)
        items.append(event_item(when, event_id, float(rng.normal(45, 10)), 0.1 + 0.2 * i, float(rng.lognormal(3, 1))))
    return items


@pytest.mark.parametrize("seed", range(4))
def test_merges_like_the_python_rule(online_store, seed):
    expected_text, outcomes = None, []
    for item in _stream(seed):
        outcome, text, newest = merge_event(expected_text, item, retention_us=RETENTION)
        if outcome is EventMerge.STORED:
            expected_text, expected_newest = text, newest
        outcomes.append(outcome)
        assert online_store.merge_event(SPEC, (7,), column="events", item=item, retention_us=RETENTION) is outcome
        assert online_store.read(SPEC, [(7,)], ["events"]) == [(expected_text,)]
    assert set(outcomes) == set(EventMerge)  # every branch was taken
    listed = json.loads(expected_text)
    assert [(e[0], e[1]) for e in listed] == sorted((e[0], e[1]) for e in listed)
    assert listed[1][0] > listed[-1][0] - RETENTION >= listed[0][0] or listed[0][0] > listed[-1][0] - RETENTION
    stored_time = online_store.read(SPEC, [(7,)], ["t"])[0][0]
    assert stored_time == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=expected_newest)


def test_derived_fields_are_cleared_where_the_predecessor_changed(online_store):
    pipeline_time = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=10)
    online_store.write_batch(SPEC, pa.Table.from_pylist([{"card": 1, "t": pipeline_time,
                                                   "events": "[[%d,1,1.0,0.5],[%d,3,1.0,0.25]]" % (BASE, BASE + 10),
                                                   "note": "kept"}], schema=SCHEMA))
    assert online_store.merge_event(SPEC, (1,), column="events", item=event_item(BASE + 5, 2, 2.0),
                             retention_us=RETENTION) is EventMerge.STORED
    events, note = online_store.read(SPEC, [(1,)], ["events", "note"])[0]
    assert json.loads(events) == [[BASE, 1, 1.0, 0.5], [BASE + 5, 2, 2.0, None], [BASE + 10, 3, 1.0, None]]
    assert note == "kept"  # other columns stay


def test_concurrent_writers_of_one_key_lose_nothing(online_store):
    def writer(offset: int) -> None:
        for i in range(40):
            item = event_item(BASE + i * 1_000 + offset, offset * 1_000 + i, 1.0)
            merged = online_store.merge_event(SPEC, (3,), column="events", item=item, retention_us=RETENTION)
            assert merged is EventMerge.STORED

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = json.loads(online_store.read(SPEC, [(3,)], ["events"])[0][0])
    assert len(listed) == 160 and len({e[1] for e in listed}) == 160


def test_only_string_columns_of_timestamped_tables_hold_event_lists(online_store):
    with pytest.raises(InvalidInputError, match="not a string column"):
        online_store.merge_event(SPEC, (1,), column="t", item=event_item(BASE, 1), retention_us=RETENTION)
