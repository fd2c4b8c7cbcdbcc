"""Which Delta versions must stay readable: every version a training dataset re-reads by its join.

A training dataset stored without its rows (`materialize=False`) is re-read by re-running its join
on the exact Delta versions it recorded (the feature view catalog keeps them per offline table), so a
vacuum must keep the files of those versions. One whose every split is stored reads its own copy and
needs none of them: its recorded Delta versions stay in its record as lineage, and their files may
go. The champion's lineage is its training dataset, one of those recorded: keeping every dataset
readable keeps it too (and lets a rollback re-read any earlier model's data).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def pinned_versions(fs: Any) -> dict[str, set[int]]:
    """Offline table URI → the Delta versions recorded by the training datasets of every feature view
    in the feature store `fs` that still read them (a split without stored rows)."""
    pins: dict[str, set[int]] = defaultdict(set)
    for name, version in fs.feature_views():
        view = fs.get_feature_view(name, version)
        for dataset in view.training_dataset_versions():
            record = view.get_training_dataset(dataset)
            if set(record.splits) <= set(record.frozen):
                continue  # every split reads its stored rows
            for table, delta_version in record.delta_versions.items():
                pins[offline_uri(fs, table)].add(int(delta_version))
    return dict(pins)


def offline_uri(fs: Any, table_name: str) -> str:
    """Where the feature store keeps the offline Delta table `table_name` (e.g. transactions_v1)."""
    return f"{fs.root}/offline/{table_name}"
