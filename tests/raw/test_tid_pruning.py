"""tid uniqueness across days stays complete while reading only the days that may clash: a day is
skipped only when the tid statistics of its files (min, max in the Delta log) cannot hold any tid of
the batch. Every clash a scan of all history finds is found, with the same samples, for growing ids
(few days read), random ids (every day read) and long string ids (truncated statistics)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines.raw.audit import RunTids, _stored_clashes, _tids_unique_across_days, days_that_may_hold
from fraud_pipelines.raw.files import RawInputError
from fraud_pipelines.tables import DeltaDayTable

FIRST = date(2025, 1, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(12)]


def table_of(path, tids_per_day: dict[date, list]) -> DeltaDayTable:
    kind = pa.string() if isinstance(next(iter(tids_per_day.values()))[0], str) else pa.int64()
    table = DeltaDayTable(str(path), pa.schema([("tid", kind), ("datetime", pa.timestamp("us", tz="UTC"))]),
                          time_column="datetime")
    for day, tids in tids_per_day.items():
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        frame = pd.DataFrame({"tid": tids, "datetime": [start + timedelta(seconds=i) for i in range(len(tids))]})
        table.replace_days(frame, [day])
    return table


def growing(day: date, n: int = 50) -> list[int]:
    """tids as the synthetic source makes them: YYYYMMDD * 100000 + sequence."""
    return [int(day.strftime("%Y%m%d")) * 100_000 + i for i in range(n)]


def batch_of(tids: list) -> pa.Table:
    return pa.table({"tid": pa.array(tids)})


def every_day_clashes(table: DeltaDayTable, tids: list, exclude: list[date]) -> list[tuple]:
    """The unbounded check: every stored day outside `exclude`."""
    days = [date.fromisoformat(d) for d in table.days() if date.fromisoformat(d) not in exclude]
    return _stored_clashes(table, days, batch_of(tids))


def test_growing_ids_read_only_the_days_their_range_reaches_and_miss_no_clash(tmp_path):
    table = table_of(tmp_path / "t", {day: growing(day) for day in DAYS[:-1]})
    new = growing(DAYS[-1])
    assert days_that_may_hold(table, batch_of(new)["tid"], exclude_days=[DAYS[-1]]) == []
    # a tid of day 3 repeated in the new day: the days from day 3 on are read, and the clash found as a full
    # scan finds it
    repeated = [*new[:10], growing(DAYS[3])[17]]
    assert days_that_may_hold(table, batch_of(repeated)["tid"], exclude_days=[DAYS[-1]]) == DAYS[3:-1]
    pruned = _stored_clashes(table, days_that_may_hold(table, batch_of(repeated)["tid"], [DAYS[-1]]),
                             batch_of(repeated))
    assert pruned == every_day_clashes(table, repeated, [DAYS[-1]]) == [(growing(DAYS[3])[17], "2025-01-04", 1)]
    frame = pd.DataFrame({"tid": repeated})
    with pytest.raises(RawInputError, match=r"1 tid\(s\) are already stored on other days, e\.g\. .*2025-01-04"):
        _tids_unique_across_days(frame, np.array(["new.csv"] * len(frame), dtype=object), table, [DAYS[-1]])


@pytest.mark.parametrize("kind", ["random ints", "long strings"])
def test_any_ids_give_the_clashes_of_a_full_scan(tmp_path, kind):
    rng = np.random.default_rng(3)
    pool = rng.choice(10**9, size=len(DAYS) * 40, replace=False)
    if kind == "long strings":  # longer than the 64 characters Delta keeps in its statistics
        pool = np.array([f"{'x' * 70}{v:012d}" for v in pool], dtype=object)
    stored = {day: list(pool[i * 40:(i + 1) * 40]) for i, day in enumerate(DAYS[:-1])}
    table = table_of(tmp_path / "t", stored)
    fresh = list(pool[(len(DAYS) - 1) * 40:])
    for trial in range(6):
        picks = rng.choice(len(DAYS) - 1, size=trial % 3, replace=False)
        batch = fresh[:20] + [stored[DAYS[p]][int(rng.integers(40))] for p in picks]
        days = days_that_may_hold(table, batch_of(batch)["tid"], exclude_days=[DAYS[-1]])
        assert _stored_clashes(table, days, batch_of(batch)) == every_day_clashes(table, batch, [DAYS[-1]])
        assert len(every_day_clashes(table, batch, [DAYS[-1]])) == len(picks)


def test_a_run_of_many_chunks_checks_each_against_storage_and_the_run(tmp_path):
    table = table_of(tmp_path / "t", {day: growing(day) for day in DAYS[:6]})
    run_days = DAYS[6:9]
    tids = RunTids(table, run_days)
    origins = np.array(["f"] * 50, dtype=object)
    tids.check_and_add(pd.DataFrame({"tid": growing(DAYS[6])}), origins, [DAYS[6]])
    with pytest.raises(RawInputError, match=r"stored on 2025-01-07\.\."):  # repeats the run's chunk
        tids.check_and_add(pd.DataFrame({"tid": [*growing(DAYS[7])[:49], growing(DAYS[6])[5]]}), origins, [DAYS[7]])
    with pytest.raises(RawInputError, match=r"stored on 2025-01-02"):  # repeats a stored day outside the run
        tids.check_and_add(pd.DataFrame({"tid": [*growing(DAYS[7])[:49], growing(DAYS[1])[5]]}), origins, [DAYS[7]])
    tids.check_and_add(pd.DataFrame({"tid": growing(DAYS[7])}), origins, [DAYS[7]])
    # a run that replaces stored days does not clash with the rows it replaces
    again = RunTids(table, DAYS[2:4])
    again.check_and_add(pd.DataFrame({"tid": growing(DAYS[2])}), origins, [DAYS[2]])
