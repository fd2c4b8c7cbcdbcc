"""Reads of only some days: a Delta day table read for two of its days returns exactly their rows
(a partition predicate), and consecutive days are grouped into the runs the amounts are read by."""

from __future__ import annotations

from datetime import date

import pandas as pd

from fraud_pipelines.governance.labelled import _runs, read_days, stored_days, with_day
from fraud_pipelines.scoring.tables import SCORES
from fraud_pipelines.tables import DeltaDayTable


def test_read_days_returns_only_the_asked_days(tmp_path):
    table = DeltaDayTable(str(tmp_path / "scores"), SCORES, time_column="datetime")
    times = pd.to_datetime(["2025-01-01T10:00Z", "2025-01-02T10:00Z", "2025-01-02T23:59Z", "2025-01-03T00:00Z"])
    frame = pd.DataFrame({"tid": [1, 2, 3, 4], "cc_num": 7, "datetime": times, "fraud_score": 0.5, "decision": 0,
                          "threshold": 0.5, "model_name": "m", "model_version": "1", "reasons": None})
    table.replace_days(frame, [date(2025, 1, d) for d in (1, 2, 3)])
    assert stored_days(table) == [date(2025, 1, d) for d in (1, 2, 3)]
    read = read_days(table, [date(2025, 1, 2), date(2025, 1, 3)], ["tid", "datetime"]).sort_values("tid")
    assert read["tid"].tolist() == [2, 3, 4] and read["day"].tolist() == ["2025-01-02", "2025-01-02", "2025-01-03"]
    assert (with_day(read)["day"] == read["day"]).all()
    assert read_days(table, [], ["tid"]).empty
    missing = DeltaDayTable(str(tmp_path / "none"), SCORES, time_column="datetime")
    assert read_days(missing, [date(2025, 1, 1)], ["tid"]).empty and stored_days(missing) == []


def test_consecutive_days_are_read_as_runs():
    days = [date(2025, 1, d) for d in (1, 2, 3, 5, 7, 8)]
    assert _runs(days) == [(days[0], days[2]), (days[3], days[3]), (days[4], days[5])]
