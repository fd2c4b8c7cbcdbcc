"""Nightly compaction of daily commits seals files of consecutive days at the target size: files never
overlap in time (a read of recent days skips the older ones), and their number stays bounded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from fraud_pipelines.maintenance.delta_tables import maintain_table

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def day_rows(day: int, rng: np.random.Generator, n: int = 2_000) -> pa.Table:
    micros = np.sort(rng.integers(0, 86_400 * 10**6, n)) + int((START + timedelta(days=day)).timestamp()) * 10**6
    return pa.table({"tid": pa.array([f"{day}-{i}" for i in range(n)]),
                     "datetime": pa.array(micros, pa.timestamp("us", tz="UTC")),
                     **{f"f{k}": rng.random(n) for k in range(6)}})


def test_nightly_compaction_keeps_files_to_spans_of_consecutive_days(tmp_path):
    uri, rng, days = str(tmp_path / "group"), np.random.default_rng(3), 40
    for day in range(days):
        write_deltalake(uri, day_rows(day, rng), mode="append")
        report = maintain_table(uri, retention_hours=0, target_size=600_000)
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True))
    spans = sorted(zip(actions["min.datetime"].to_pylist(), actions["max.datetime"].to_pylist()))
    assert 3 <= len(spans) <= days // 3  # merged, yet not one file for the whole history
    assert all(previous[1] < following[0] for previous, following in zip(spans, spans[1:]))
    assert report.files_after == len(spans) and sum(actions["num_records"].to_pylist()) == days * 2_000
