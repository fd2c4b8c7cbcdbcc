"""Training dataset splits frozen as tables of their own.

A training dataset version normally stores no data: it re-reads the Delta versions it pinned. When
those versions must go (an erasure drops a table's history), the version's splits are first copied
here, minus the erased rows, and read from here from then on, in their original row order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

_ROW = "__row"
_VIEWS = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


def split_uri(root: str, view: str, view_version: int, version: int, split: str) -> str:
    """Where one frozen split lives under the feature store's root."""
    return f"{root}/frozen_training_data/{view}_v{view_version}/v{version:06d}/{split}"


def write_split(uri: str, table: pa.Table, storage_options: Mapping[str, str] | None = None) -> None:
    """Store `table` (rows in their order) as the split's one current version."""
    ordered = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    write_deltalake(uri, ordered, mode="overwrite", schema_mode="overwrite",
                    storage_options=dict(storage_options or {}))


def read_split(uri: str, storage_options: Mapping[str, str] | None = None) -> pa.Table:
    """The frozen split, in the order it was written."""
    table = DeltaTable(uri, storage_options=dict(storage_options or {}))
    data = pa.RecordBatchReader.from_stream(table.scan()).read_all()
    # delta-rs scans text as string_view; the join it was frozen from gave plain strings
    plain = pa.schema([f.with_type(_VIEWS.get(f.type, f.type)) for f in data.schema])
    return data.cast(plain).sort_by(_ROW).drop_columns([_ROW])
