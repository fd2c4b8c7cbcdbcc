"""Which Delta versions must stay readable: every version a registered training dataset records.

A training dataset is re-read by re-running its join on the exact Delta versions it recorded (the
feature view catalog keeps them per offline table), so a vacuum must keep the files of those
versions. The champion's lineage is its training dataset, one of those recorded: keeping every
recorded dataset keeps it too (and lets a rollback re-read any earlier model's data).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def pinned_versions(fs: Any) -> dict[str, set[int]]:
    """Offline table URI → the Delta versions recorded by the training datasets of every feature view
    in the feature store `fs`."""
    pins: dict[str, set[int]] = defaultdict(set)
    for name, version in fs.feature_views():
        view = fs.get_feature_view(name, version)
        for dataset in view.training_dataset_versions():
            record = view.get_training_dataset(dataset)
            for table, delta_version in record.delta_versions.items():
                pins[offline_uri(fs, table)].add(int(delta_version))
    return dict(pins)


def offline_uri(fs: Any, table_name: str) -> str:
    """Where the feature store keeps the offline Delta table `table_name` (e.g. transactions_v1)."""
    return f"{fs.root}/offline/{table_name}"
