"""Each day of a committed chunk is described with its own statistics: computed for several days side by side,
they are what each day's own computation gives, one day after the other."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_pipelines.feature_store.statistics import StatisticsConfig, compute_statistics
from fraud_pipelines.features.writes import describe_days
from fraud_pipelines.per_day import describe_table, table_days


def _chunk(rows: int = 40_000) -> pa.Table:
    rng = np.random.default_rng(3)
    times = pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 6 * 86_400, rows), "s")
    amount = rng.lognormal(3, 1.5, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    return pa.Table.from_pandas(pd.DataFrame({
        "tid": [f"t{i}" for i in range(rows)], "cc_num": rng.integers(0, 500, rows), "datetime": times,
        "amount": amount, "category": rng.choice(["a", "b", "c", None], rows),
        "fraud": rng.random(rows) < 0.02,
    }), preserve_index=False)


def test_each_days_statistics_are_its_own_computation():
    table = _chunk()
    config = StatisticsConfig(histograms=("amount", "category"), bins=7, identifiers=("cc_num",))
    group = SimpleNamespace(spec=SimpleNamespace(statistics_config=config, event_time="datetime"))
    days = [date(2025, 3, 1) + timedelta(days=k) for k in range(7)]  # the last has no rows
    described = describe_days(group, table, days, delta_version=12)
    assert list(described) == days
    for day, rows in table_days(table, "datetime", days).items():
        alone = describe_table(rows, "datetime", compute_statistics(rows, config))
        assert described[day] == {**alone, "delta_version": 12}
    assert described[days[-1]]["dagster/row_count"] == 0
    disabled = StatisticsConfig(enabled=False)
    off = SimpleNamespace(spec=SimpleNamespace(statistics_config=disabled, event_time="datetime"))
    assert all("statistics" not in meta for meta in describe_days(off, table, days, delta_version=1).values())
