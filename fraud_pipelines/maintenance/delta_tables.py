"""Maintenance of the project's Delta tables: compaction, a vacuum that keeps pinned versions, and a
checkpoint, with what each table looked like before and after.

delta-rs writes no checkpoints of its own and never removes replaced files, so a table written every
day grows a file and a log entry per commit forever. Per table, in this order:
- compaction (`optimize.compact`) merges small files into larger ones: the feature groups and other
  unpartitioned tables gain files with every daily commit. Files stop growing at `TARGET_FILE_BYTES`,
  so each holds a span of consecutive days and readers of a time range still skip the others.
  Tables listed in `no_compaction` (the raw day tables: one file per day by construction, and their
  files name the days they hold for the feature days' lineage) are left as they are;
- vacuum removes files no version still needs after `retention_hours`, except the files of the
  versions in `keep_versions` (delta-rs' own `keep_versions`): those of registered training datasets;
- a checkpoint, so opening the table reads one Parquet file instead of every JSON commit.
Old log entries are kept (no `cleanup_metadata`): time travel to a pinned version needs them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable

from fraud_pipelines.feature_store.catalog import filesystem_for

#: Compacted file size: files at this size are left alone, so nightly compaction of daily commits seals
#: files of consecutive days, and a read of recent days (pruned by file statistics) skips older files.
#: delta-rs' own default (100 MB) would merge a small table's whole history into one file read by every query.
TARGET_FILE_BYTES = 4 * 2**20
#: Folders under the root that hold no Delta tables of ours (Dagster, MLflow, files as given).
SKIPPED_FOLDERS = frozenset({"dagster", "mlflow", "inbox", "landing", "catalog", "screenshots"})
_MAX_DEPTH = 3


@dataclass(frozen=True)
class TableMaintenance:
    """What one table looked like before and after, and what each step did."""

    table: str
    version_before: int
    version_after: int
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    log_files_before: int
    log_files_after: int
    files_compacted: int
    files_vacuumed: int
    kept_versions: tuple[int, ...]
    seconds: float

    def as_dict(self) -> dict:
        return {**asdict(self), "kept_versions": list(self.kept_versions)}


def delta_tables(location: str, storage_options: Mapping[str, str] | None = None) -> list[str]:
    """Every Delta table under `location` (a folder holding `_delta_log`, at most three levels down)."""
    filesystem, base = filesystem_for(location, storage_options)
    found: list[str] = []

    def walk(path: str, relative: str, depth: int) -> None:
        entries = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        names = {e.base_name for e in entries if e.type == pafs.FileType.Directory}
        if "_delta_log" in names:
            found.append(relative)
            return
        if depth >= _MAX_DEPTH:
            return
        for name in sorted(names):
            if name.startswith((".", "_")) or (depth == 0 and name in SKIPPED_FOLDERS):
                continue
            walk(f"{path}/{name}", f"{relative}/{name}".lstrip("/"), depth + 1)

    walk(base, "", 0)
    return [f"{location.rstrip('/')}/{relative}" for relative in found]


def maintain_table(uri: str, *, storage_options: Mapping[str, str] | None = None,
                   keep_versions: Sequence[int] = (), retention_hours: int = 168,
                   compact: bool = True, target_size: int | None = TARGET_FILE_BYTES) -> TableMaintenance:
    """Compact (unless `compact` is False) into files of about `target_size` bytes, vacuum keeping
    `keep_versions`, checkpoint; see the module."""
    started = time.perf_counter()
    options = dict(storage_options or {}) or None
    table = DeltaTable(uri, storage_options=options)
    version_before = table.version()
    files_before, bytes_before = _files(table)
    logs_before = _log_files(uri, storage_options)
    compacted = 0
    if compact and files_before > 1:
        metrics = table.optimize.compact(target_size=target_size)
        compacted = int(metrics.get("numFilesRemoved", 0))
    kept = tuple(sorted(v for v in set(keep_versions) if 0 <= v <= table.version()))
    vacuumed = table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False,
                            keep_versions=list(kept) or None, full=True)
    table.create_checkpoint()
    table = DeltaTable(uri, storage_options=options)
    files_after, bytes_after = _files(table)
    return TableMaintenance(
        table=uri, version_before=version_before, version_after=table.version(), files_before=files_before,
        files_after=files_after, bytes_before=bytes_before, bytes_after=bytes_after, log_files_before=logs_before,
        log_files_after=_log_files(uri, storage_options), files_compacted=compacted, files_vacuumed=len(vacuumed),
        kept_versions=kept, seconds=round(time.perf_counter() - started, 3),
    )


def stored_files(uri: str, storage_options: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(data files, bytes) physically present under the table's folder, every version's included."""
    filesystem, base = filesystem_for(uri, storage_options)
    entries = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    data = [e for e in entries if e.type == pafs.FileType.File and e.path.endswith(".parquet")
            and "/_delta_log/" not in e.path]
    return len(data), sum(e.size for e in data)


def _files(table: DeltaTable) -> tuple[int, int]:
    """Data files of the current version and their bytes."""
    actions = pa.table(table.get_add_actions(flatten=True))
    return actions.num_rows, int(sum(actions["size_bytes"].to_pylist()))


def _log_files(uri: str, storage_options: Mapping[str, str] | None) -> int:
    filesystem, base = filesystem_for(uri, storage_options)
    entries = filesystem.get_file_info(pafs.FileSelector(f"{base}/_delta_log", allow_not_found=True))
    return sum(1 for e in entries if e.type == pafs.FileType.File)
