"""Descriptive statistics of the rows written by one commit, stored with that Delta version.

Per column: count of values, completeness (share of non-null), approximate distinct count;
for numbers min/max/mean/std; for times min/max; and a histogram for the configured columns
(equal-width bins for numbers, top values for everything else). One parallel DuckDB pass over
the batch, so they cost little next to the write itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidInputError
from .offline_store import connect
from .sql import quote

TOP_VALUES = 20


@dataclass(frozen=True, kw_only=True)
class StatisticsConfig:
    """Which statistics a feature group computes on insert."""

    enabled: bool = True
    columns: tuple[str, ...] | None = None  # None: every column
    histograms: tuple[str, ...] = ()
    bins: int = 20
    #: Key columns whose values must not leak into statistics (min/max/mean would each show one entity's
    #: key): only their count, completeness and distinct count are kept. Absent columns are ignored.
    identifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise InvalidInputError(f"statistics bins must be >= 1, got {self.bins}")
        object.__setattr__(self, "histograms", tuple(self.histograms))
        object.__setattr__(self, "identifiers", tuple(self.identifiers))
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    @classmethod
    def coerce(cls, value: StatisticsConfig | bool | None) -> StatisticsConfig:
        """Accept a config, True/None (defaults) or False (disabled)."""
        if isinstance(value, StatisticsConfig):
            return value
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(enabled=False)
        raise InvalidInputError(f"statistics_config must be a StatisticsConfig or a bool, not {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the catalog."""
        return {"enabled": self.enabled, "columns": self.columns, "histograms": list(self.histograms),
                "bins": self.bins, "identifiers": list(self.identifiers)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatisticsConfig:
        """Inverse of `to_dict`."""
        columns = data.get("columns")
        return cls(enabled=data["enabled"], columns=None if columns is None else tuple(columns),
                   histograms=tuple(data.get("histograms", ())), bins=data.get("bins", 20),
                   identifiers=tuple(data.get("identifiers", ())))


def compute_statistics(table: pa.Table, config: StatisticsConfig) -> dict[str, Any]:
    """Statistics of `table` as a JSON-ready dict: {"row_count", "columns": {name: {...}}}.

    One parallel DuckDB pass computes every column's aggregates; distinct counts are
    HyperLogLog estimates (`approx_distinct_count`), as in Deequ/Hopsworks, since exact ones
    cost more than the write itself on large batches.
    """
    names = list(config.columns) if config.columns is not None else table.column_names
    unknown = [c for c in [*names, *config.histograms] if c not in table.column_names]
    if unknown:
        raise InvalidInputError(f"statistics_config names unknown column(s) {unknown}")
    rows = table.num_rows
    aggregates = _aggregates(table, names, set(config.identifiers))
    columns = {}
    for i, name in enumerate(names):
        column = table[name]
        count = rows - column.null_count
        stats: dict[str, Any] = {"type": str(column.type), "count": count,
                                 "completeness": (count / rows) if rows else None,
                                 "approx_distinct_count": aggregates[f"c{i}_distinct"]}
        kind = column.type
        if name in config.identifiers:
            pass
        elif _is_number(kind):
            std = aggregates[f"c{i}_std"]
            stats.update(min=_plain(aggregates[f"c{i}_min"]), max=_plain(aggregates[f"c{i}_max"]),
                         mean=_number(aggregates[f"c{i}_mean"]), std=_number(std) if count > 1 else None)
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            low, high = aggregates[f"c{i}_min"], aggregates[f"c{i}_max"]
            stats.update(min=None if low is None else low.isoformat(), max=None if high is None else high.isoformat())
        if name in config.histograms and name not in config.identifiers:
            stats["histogram"] = _histogram(column, config.bins)
        columns[name] = stats
    return {"row_count": rows, "columns": columns}


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _aggregates(table: pa.Table, names: list[str], identifiers: set[str]) -> dict[str, Any]:
    parts = ["count(*) AS n"]
    for i, name in enumerate(names):
        ref, kind = quote(name), table.schema.field(name).type
        parts.append(f"approx_count_distinct({ref}) AS c{i}_distinct")
        if name in identifiers:
            continue
        if _is_number(kind):
            value = f"{ref}::DOUBLE" if pa.types.is_boolean(kind) else ref
            finite = f" FILTER (WHERE isfinite({ref}))" if pa.types.is_floating(kind) else ""
            parts += [f"min({value}){finite} AS c{i}_min", f"max({value}){finite} AS c{i}_max",
                      f"avg({value}::DOUBLE){finite} AS c{i}_mean", f"stddev_samp({value}::DOUBLE){finite} AS c{i}_std"]
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            parts += [f"min({ref}) AS c{i}_min", f"max({ref}) AS c{i}_max"]
    con = connect()
    try:
        con.register("batch", table.select(names))
        cursor = con.execute(f"SELECT {', '.join(parts)} FROM batch")
        row = cursor.fetchone()
        labels = [d[0] for d in cursor.description]
    finally:
        con.close()
    return dict(zip(labels, row or ()))


def _histogram(column: pa.ChunkedArray, bins: int) -> dict[str, Any]:
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = column.drop_null().cast(pa.float64(), safe=False).to_numpy()
        values = values[np.isfinite(values)]
        if not len(values):
            return {"kind": "numeric", "edges": [], "counts": []}
        counts, edges = np.histogram(values, bins=bins)
        return {"kind": "numeric", "edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    counts = pc.value_counts(
        column.drop_null().cast(pa.string()) if not pa.types.is_string(kind) else column.drop_null()
    )
    pairs = sorted(
        ((v["values"].as_py(), v["counts"].as_py()) for v in counts), key=lambda p: (-p[1], str(p[0]))
    )
    return {"kind": "top_values", "values": [p[0] for p in pairs[:TOP_VALUES]],
            "counts": [p[1] for p in pairs[:TOP_VALUES]], "other": sum(p[1] for p in pairs[TOP_VALUES:])}


def _plain(value: Any) -> Any:
    """Exact integers stay integers; other numbers become finite floats or None."""
    if isinstance(value, bool):
        return float(value)
    return value if isinstance(value, int) else _number(value)


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
