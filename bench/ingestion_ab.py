"""What the A/B ingestion benches share: the seeded ingestion a child process times (transactions,
then their labels, through `ingest_days`), a case run in a fresh FRAUD_HOME, and the interleaved
repeats whose medians they report (the machine's load hits both cases alike)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingestion import SHAPES, run_child  # noqa: E402  (one child runner for the benches)

FIRST_DAY = date(2025, 1, 1)


def seeded_days(size: str) -> list[date]:
    """The days of one of the benches' shapes (`1M`, `10M`)."""
    return [FIRST_DAY + timedelta(days=i) for i in range(SHAPES[size][1])]


def ingest_seeded(size: str, **options: bool) -> dict[str, float]:
    """Ingest the seeded transactions and their labels of one shape; `options` go to `ingest_days`.

    Returns the transactions written and the wall and CPU seconds of ingestion alone (rows that pass are
    validated without importing Great Expectations, as in a run's steps).
    """
    from fraud_pipelines.raw.ingest import ingest_days
    from fraud_pipelines.resources import RawSourceResource, StorageResource

    cards, n_days, per_day = SHAPES[size]
    raw = RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=n_days)
    source, contract, storage = raw.source(), raw.contract(), StorageResource()
    began, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for table in ("transactions", "fraud_labels"):
        written = ingest_days(table, seeded_days(size), lambda d, t=table: source.day_parts(t, d),
                              storage.raw_table(table), contract=contract, charges=storage.raw_table("transactions"),
                              **options)
        rows += written.rows if table == "transactions" else 0
    return {"rows": rows, "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu}


def run_case(script: str, arguments: list[str], env: dict[str, str] | None = None) -> tuple[dict, int]:
    """Run `script --child …` in a fresh FRAUD_HOME: its JSON figures and its own peak RSS in kB."""
    with tempfile.TemporaryDirectory() as home:
        child_env = {**os.environ, "FRAUD_HOME": home, "DAGSTER_HOME": f"{home}/dagster",
                     "FRAUD_START_DATE": FIRST_DAY.isoformat(), **(env or {})}
        return run_child([sys.executable, script, *arguments], child_env)


@dataclass
class Runs:
    """Figures of the repeated runs of one case."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)
    rows: int = 0

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def peak_gb(self) -> float:
        return max(self.peaks_kb) / 1024**2


def interleaved(run: Callable[[bool], tuple[dict, int]], repeats: int) -> dict[bool, Runs]:
    """Run the case without (False) and with (True) the feature alternately, `repeats` times each."""
    runs = {False: Runs(), True: Runs()}
    for _ in range(repeats):
        for case in (False, True):
            figures, peak = run(case)
            runs[case].seconds.append(figures["seconds"])
            runs[case].cpu.append(figures.get("cpu", 0.0))
            runs[case].peaks_kb.append(peak)
            runs[case].rows = figures["rows"]
    return runs
