"""Removing rows from a Delta table for good: a DELETE, then the table's history dropped.

A Delta DELETE only writes a new version; every older version, its data files and its log (whose
file statistics and the DELETE's own predicate may name the deleted key) still hold the rows. For
an erasure, `delete_for_good` keeps only the new current version: it vacuums every file the current
version does not use, checkpoints, and removes the older log entries. Time travel to the versions
before the erasure is gone afterwards (readers pinned to them must have copied what they need).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deltalake import DeltaTable

#: Retention properties restored once the history is dropped (Delta's defaults).
_DEFAULT_RETENTION = {"delta.logRetentionDuration": "interval 30 days",
                      "delta.deletedFileRetentionDuration": "interval 1 weeks"}
_NO_RETENTION = {"delta.logRetentionDuration": "interval 0 days",
                 "delta.deletedFileRetentionDuration": "interval 0 days"}


def count_rows(uri: str, predicate: str, storage_options: Mapping[str, str] | None = None) -> int:
    """Rows of the current version matching a SQL `predicate`."""
    import pyarrow as pa

    table = DeltaTable(uri, storage_options=dict(storage_options or {}))
    first = table.schema().fields[0].name
    reader = pa.RecordBatchReader.from_stream(table.scan(columns=[first], predicate=predicate))
    return sum(batch.num_rows for batch in reader)


def delete_for_good(uri: str, predicate: str, storage_options: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Delete the rows matching `predicate`, then drop every older version (see the module docstring).
    Returns {"rows_deleted", "files_removed", "version"}; nothing is written when no row matches."""
    options = dict(storage_options or {})
    if count_rows(uri, predicate, options) == 0:
        return {"rows_deleted": 0, "files_removed": 0, "version": DeltaTable(uri, storage_options=options).version()}
    metrics = DeltaTable(uri, storage_options=options).delete(predicate)
    removed = drop_history(uri, options)
    return {"rows_deleted": int(metrics.get("num_deleted_rows", 0)), "files_removed": removed,
            "version": DeltaTable(uri, storage_options=options).version()}


def drop_history(uri: str, storage_options: Mapping[str, str] | None = None) -> int:
    """Keep only the current version: vacuum unused files, checkpoint, remove the older log entries,
    then restore the default retention. Returns the number of data files removed."""
    options = dict(storage_options or {})
    table = DeltaTable(uri, storage_options=options)
    removed = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    table.alter.set_table_properties(_NO_RETENTION)
    table = DeltaTable(uri, storage_options=options)
    table.create_checkpoint()
    table.cleanup_metadata()
    orphans = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True)
    table.alter.set_table_properties(_DEFAULT_RETENTION)
    return len(removed) + len(orphans)
