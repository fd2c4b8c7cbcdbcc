"""A brute-force point-in-time join in plain Python: the reference the fast join must match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def point_in_time_oracle(
    spine: Sequence[dict[str, Any]],
    *,
    spine_time: str,
    spine_order: Sequence[str],
    joins: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each join is {"rows", "spine_keys", "keys", "time", "pk", "columns": {col: out}}."""
    out = []
    for row in sorted(spine, key=lambda r: (r[spine_time], *(r[c] for c in spine_order))):
        result = dict(row)
        for join in joins:
            best = None
            key = tuple(row[k] for k in join["spine_keys"])
            for cand in join["rows"]:
                if None in key or tuple(cand[k] for k in join["keys"]) != key:
                    continue
                if cand[join["time"]] > row[spine_time]:
                    continue
                rank = (cand[join["time"]], *(cand[p] for p in join["pk"]))
                if best is None or rank > best[0]:
                    best = (rank, cand)
            for col, name in join["columns"].items():
                result[name] = None if best is None else best[1][col]
        out.append(result)
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equality that treats None and NaN as the same missing value."""
    missing_a = a is None or a is pd.NaT or a is pd.NA or (isinstance(a, float) and a != a)
    missing_b = b is None or b is pd.NaT or b is pd.NA or (isinstance(b, float) and b != b)
    if missing_a or missing_b:
        return missing_a and missing_b
    return a == b
