"""Training dataset versions: the metadata that makes a feature view's training data reproducible.

A version records the Delta version of every table it read, the event-time range of each split
(on the spine's event time, start inclusive, end exclusive), the fitted state of each
transformation function (fitted on the train split only), row counts and a leakage audit
(per split and joined group, the max of feature event time minus spine time, which must be
<= 0). By default the splits' joined rows are stored when the version is created (`frozen`:
split -> its Delta table, `frozen_splits`) and read back from there; a version created with
`materialize=False` stores none and re-runs the join on those pinned table versions per read, so new
inserts never change either -- until an erasure must drop those versions: then its splits are frozen
too, minus the erased rows. Every erasure that removed rows from a version is listed in `erasures`
(when, how many rows per split, why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .catalog import Catalog
from .errors import InvalidInputError, NotFoundError
from .offline_store import TimeRange
from .sql import as_utc

SPLIT_ORDER = ("train", "validation", "test")


@dataclass(frozen=True, kw_only=True)
class TrainingDatasetVersion:
    """One recorded version of a feature view's training data."""

    feature_view: str
    feature_view_version: int
    version: int
    splits: dict[str, TimeRange]
    delta_versions: dict[str, int]
    transformations: dict[str, dict[str, Any]] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    leakage_audit: dict[str, dict[str, float | None]] = field(default_factory=dict)
    description: str = ""
    created_at: str = ""
    #: split -> URI of its stored rows (read instead of the pinned Delta versions): from creation, or an erasure.
    frozen: dict[str, str] = field(default_factory=dict)
    #: Every erasure that changed this version: {"at", "reason", "rows_removed": {split: n}}.
    erasures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the catalog."""
        return {
            "feature_view": self.feature_view, "feature_view_version": self.feature_view_version,
            "version": self.version, "description": self.description, "created_at": self.created_at,
            "splits": {name: _range_to_json(r) for name, r in self.splits.items()},
            "delta_versions": dict(self.delta_versions), "transformations": self.transformations,
            "row_counts": self.row_counts, "leakage_audit": self.leakage_audit,
            "frozen": dict(self.frozen), "erasures": list(self.erasures),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingDatasetVersion:
        """Inverse of `to_dict`."""
        return cls(
            feature_view=data["feature_view"], feature_view_version=data["feature_view_version"],
            version=data["version"], description=data.get("description", ""), created_at=data.get("created_at", ""),
            splits={name: _range_from_json(r) for name, r in data["splits"].items()},
            delta_versions=dict(data["delta_versions"]), transformations=dict(data.get("transformations", {})),
            row_counts=dict(data.get("row_counts", {})), leakage_audit=dict(data.get("leakage_audit", {})),
            frozen=dict(data.get("frozen", {})), erasures=list(data.get("erasures", [])),
        )


def utc_now_text() -> str:
    """Now, UTC, as ISO 8601 text (how records say when)."""
    return datetime.now(timezone.utc).isoformat()


def split_ranges(**bounds: Any) -> dict[str, TimeRange]:
    """{"train": TimeRange, ...} from `<split>_start` / `<split>_end` keywords; overlaps are refused."""
    splits: dict[str, TimeRange] = {}
    for name in SPLIT_ORDER:
        if f"{name}_start" not in bounds and f"{name}_end" not in bounds:
            continue
        start, end = bounds.get(f"{name}_start"), bounds.get(f"{name}_end")
        window = TimeRange(start=None if start is None else as_utc(start, f"{name}_start"),
                           end=None if end is None else as_utc(end, f"{name}_end"))
        if window.start is not None and window.end is not None and not window.start < window.end:
            raise InvalidInputError(f"{name} split: start {window.start} must be before end {window.end}")
        splits[name] = window
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if _overlap(splits[first], splits[second]):
                raise InvalidInputError(
                    f"splits '{first}' {_show(splits[first])} and '{second}' {_show(splits[second])} overlap; "
                    "rows would leak between them"
                )
    return splits


class TrainingDatasetStore:
    """Training dataset versions of one feature view in the catalog."""

    def __init__(self, catalog: Catalog, feature_view: str, feature_view_version: int) -> None:
        self._catalog = catalog
        self._name = feature_view
        self._view_version = feature_view_version
        self._folder = f"training_datasets/{feature_view}_v{feature_view_version}"

    def versions(self) -> list[int]:
        """Recorded version numbers, ascending."""
        return sorted(int(k.rsplit("/", 1)[1][1:-5]) for k in self._catalog.list(self._folder))

    def get(self, version: int) -> TrainingDatasetVersion:
        """One recorded version, or NotFoundError naming the ones that exist."""
        data = self._catalog.read(f"{self._folder}/v{version:06d}.json")
        if data is None:
            raise NotFoundError(
                f"feature view {self._name} v{self._view_version} has no training dataset version {version}; "
                f"it has {self.versions()}"
            )
        return TrainingDatasetVersion.from_dict(data)

    def replace(self, record: TrainingDatasetVersion) -> None:
        """Rewrite a recorded version's metadata (only erasures do: frozen splits and their record)."""
        self.get(record.version)
        self._catalog.write(f"{self._folder}/v{record.version:06d}.json", record.to_dict())

    def save(self, draft: TrainingDatasetVersion) -> TrainingDatasetVersion:
        """Record `draft` under the next free version number (safe against concurrent writers)."""
        version = (self.versions() or [0])[-1] + 1
        while True:
            record = TrainingDatasetVersion.from_dict(
                {**draft.to_dict(), "version": version, "created_at": datetime.now(timezone.utc).isoformat()}
            )
            if self._catalog.create(f"{self._folder}/v{version:06d}.json", record.to_dict()):
                return record
            version += 1


def _overlap(a: TimeRange, b: TimeRange) -> bool:
    low = max((t for t in (a.start, b.start) if t is not None), default=None)
    high = min((t for t in (a.end, b.end) if t is not None), default=None)
    return low is None or high is None or low < high


def _show(window: TimeRange) -> str:
    return f"[{window.start or '-inf'}, {window.end or '+inf'})"


def _range_to_json(window: TimeRange) -> dict[str, str | None]:
    return {"start": None if window.start is None else window.start.isoformat(),
            "end": None if window.end is None else window.end.isoformat()}


def _range_from_json(data: Mapping[str, str | None]) -> TimeRange:
    start, end = data.get("start"), data.get("end")
    return TimeRange(start=None if start is None else as_utc(start), end=None if end is None else as_utc(end))
