"""History tables refreshed every day append only what changed: the same history again commits nothing,
a new version of a card appends one row, and a history changed at the source is rewritten whole."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from fraud_pipelines.storage import Storage


def profiles(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        "cc_num": [r[0] for r in rows], "sex": ["F"] * len(rows),
        "birthdate": pd.to_datetime(["1980-05-01"] * len(rows)),
        "city": [r[1] for r in rows], "country": ["NO"] * len(rows),
        "event_time": pd.to_datetime([r[2] for r in rows], utc=True),
    })


def test_a_daily_refresh_appends_only_new_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path))
    table = Storage().raw_table("profiles")
    first = profiles([(1, "Oslo", "2024-12-01"), (2, "Rome", "2024-12-02")])
    frame = first.reindex(columns=table.schema.names)
    assert table.append_changes(frame)["operation"] == "create"
    same = table.append_changes(frame)
    assert same["operation"] == "none" and same["rows_appended"] == 0 and same["delta_version"] == 0

    moved = pd.concat([frame, profiles([(1, "Lima", "2025-01-05")]).reindex(columns=table.schema.names)],
                      ignore_index=True)
    result = table.append_changes(moved)
    assert result["operation"] == "append" and result["rows_appended"] == 1
    history = DeltaTable(table.uri).history()
    assert history[0]["operation"] == "WRITE" and history[0]["operationParameters"]["mode"] == "Append"
    added = pa.table(DeltaTable(table.uri).get_add_actions(flatten=True)).to_pylist()
    assert len(added) == 2 and sorted(a["num_records"] for a in added) == [1, 2]  # the old file kept, one row added
    assert sorted(table.read()["city"]) == ["Lima", "Oslo", "Rome"]

    corrected = moved.assign(city=moved["city"].replace({"Rome": "Roma"}))  # a past row changed at the source
    rewritten = table.append_changes(corrected)
    assert rewritten["operation"] == "rewrite"
    assert sorted(table.read()["city"]) == ["Lima", "Oslo", "Roma"]
