"""The maintenance asset: every Delta table of the project compacted, vacuumed (keeping the versions
registered training datasets pin) and checkpointed, and the stored rows of training dataset versions
never recorded removed; the figures per table go to the materialization."""


import time

import dagster as dg
from pydantic import Field

from fraud_pipelines.maintenance.delta_tables import TARGET_FILE_BYTES, delta_tables, maintain_table
from fraud_pipelines.maintenance.pins import pinned_versions
from fraud_pipelines.resources import StorageResource

GROUP = "maintenance"
#: Raw tables are written one file per day (or whole) already, and the files of a raw day stamp the
#: feature days built from it (`features/day_lineage.py`): compacting them would mark those days stale.
UNCOMPACTED_FOLDER = "raw"


class MaintenanceConfig(dg.Config):
    """How far back replaced files are kept for time travel beyond the pinned versions."""

    retention_hours: int = Field(default=168, ge=0, description="Replaced files younger than this stay (hours).")
    compact: bool = Field(default=True, description="Merge small files (feature groups, scores, lineage).")
    target_file_mb: float = Field(default=TARGET_FILE_BYTES / 2**20, gt=0,
                                  description="Size compacted files grow to (MB); larger files are left alone.")
    draft_grace_hours: float = Field(default=24.0, ge=0, description="Stored training rows of a version never "
                                     "recorded (its creation was killed) go once this old (hours).")


@dg.asset(group_name=GROUP, kinds={"delta"},
          description="Compacts, vacuums and checkpoints every Delta table; the vacuum keeps every file of a Delta "
                      "version a training dataset re-reads by its join, so each stays readable bit for bit. Removes "
                      "the stored rows of training dataset versions whose creation never finished.")
def delta_maintenance(context: dg.AssetExecutionContext, config: MaintenanceConfig,
                      storage: StorageResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    fs = storage.feature_store()
    drafts = [draft for name, version in fs.feature_views()
              for draft in fs.get_feature_view(name, version).remove_stale_drafts(config.draft_grace_hours * 3600)]
    for draft in drafts:
        context.log.info(f"removed the stored training rows of a version never recorded: {draft}")
    pins = pinned_versions(fs)
    location = storage.location.rstrip("/")
    reports = []
    for uri in delta_tables(location, storage.storage_options):
        relative = uri[len(location) + 1:]
        report = maintain_table(uri, storage_options=storage.storage_options, keep_versions=sorted(pins.get(uri, ())),
                                retention_hours=config.retention_hours,
                                compact=config.compact and not relative.startswith(f"{UNCOMPACTED_FOLDER}/"),
                                target_size=int(config.target_file_mb * 2**20))
        context.log.info(f"{relative}: files {report.files_before} -> {report.files_after}, log files "
                         f"{report.log_files_before} -> {report.log_files_after}, {report.files_vacuumed} vacuumed, "
                         f"kept versions {list(report.kept_versions)} ({report.seconds}s)")
        reports.append((relative, report))
    rows = ["| table | files | MB | log files | compacted | vacuumed | pinned versions kept | s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for relative, r in reports:
        rows.append(f"| {relative} | {r.files_before} → {r.files_after} | {r.bytes_before / 1e6:.2f} → "
                    f"{r.bytes_after / 1e6:.2f} | {r.log_files_before} → {r.log_files_after} | {r.files_compacted} | "
                    f"{r.files_vacuumed} | {', '.join(map(str, r.kept_versions)) or '-'} | {r.seconds} |")
    return dg.MaterializeResult(metadata={
        "tables": dg.MetadataValue.md("\n".join(rows)),
        "table_count": len(reports),
        "files_before": sum(r.files_before for _, r in reports),
        "files_after": sum(r.files_after for _, r in reports),
        "bytes_before": sum(r.bytes_before for _, r in reports),
        "bytes_after": sum(r.bytes_after for _, r in reports),
        "files_vacuumed": sum(r.files_vacuumed for _, r in reports),
        "pinned_versions": dg.MetadataValue.json({uri[len(location) + 1:]: sorted(v) for uri, v in pins.items()}),
        "retention_hours": config.retention_hours,
        "stale_drafts_removed": dg.MetadataValue.json([d[len(location) + 1:] for d in drafts]),
        "seconds": round(time.perf_counter() - started, 3),
    })


MAINTENANCE_ASSETS = [delta_maintenance]
