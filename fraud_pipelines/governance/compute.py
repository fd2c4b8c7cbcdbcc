"""What a step cost: wall time, CPU time and the process's peak resident memory while it ran.

The peak is Linux's VmHWM, reset at the start (writing 5 to /proc/self/clear_refs), so it is the
step's own high-water mark; elsewhere it falls back to the process's lifetime peak (ru_maxrss).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ComputeCost:
    """Filled in when the measured block ends."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_scope: str = field(default="step")  # "step" (reset at start) or "process" (lifetime peak)

    def metadata(self, prefix: str) -> dict[str, float | str]:
        """Flat entries for asset metadata or MLflow metrics, e.g. `scoring_wall_seconds`."""
        return {f"{prefix}_wall_seconds": round(self.wall_seconds, 3),
                f"{prefix}_cpu_seconds": round(self.cpu_seconds, 3),
                f"{prefix}_peak_rss_mb": round(self.peak_rss_mb, 1)}


@contextmanager
def measured() -> Iterator[ComputeCost]:
    """Measure the block: `with measured() as cost: ...`, then read `cost`."""
    cost = ComputeCost(peak_scope="step" if _reset_peak() else "process")
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield cost
    finally:
        cost.wall_seconds = time.perf_counter() - wall
        cost.cpu_seconds = time.process_time() - cpu
        cost.peak_rss_mb = _peak_mb()


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
