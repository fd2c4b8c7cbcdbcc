"""The scores tables: `batch_scores` (the champion's decisions) and `shadow_scores` (a challenger's
scores kept beside them, never acted on). Both are Delta tables partitioned by UTC day."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from feature_logic.schema import UTC_TIMESTAMP
from fraud_pipelines.tables import DeltaDayTable

SCORES = pa.schema([
    ("tid", pa.int64()),  # or pa.string(): typed like the charges' ids (`scores_table`)
    ("cc_num", pa.int64()),
    ("datetime", UTC_TIMESTAMP),
    ("fraud_score", pa.float64()),
    ("decision", pa.int8()),  # 1: raise an alert
    ("threshold", pa.float64()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("reasons", pa.string()),  # the top 3 reasons as JSON (governance.reasons)
])
#: A challenger's scores: `decision` is what it would have decided; `champion_version` the version
#: whose decisions stood for the same charges.
SHADOW = SCORES.append(pa.field("champion_version", pa.string()))


def scores_table(storage: Any, tid_type: pa.DataType | None = None) -> DeltaDayTable:
    """The `batch_scores` Delta table under the storage root, its `tid` typed like the charges'
    ids: `tid_type` when given, else as stored, else int64."""
    return _table(storage, "batch_scores", SCORES, tid_type)


def shadow_table(storage: Any, tid_type: pa.DataType | None = None) -> DeltaDayTable:
    """The `shadow_scores` Delta table (the challenger's scores), typed like `scores_table`."""
    return _table(storage, "shadow_scores", SHADOW, tid_type)


def _table(storage: Any, name: str, schema: pa.Schema, tid_type: pa.DataType | None) -> DeltaDayTable:
    uri = f"{storage.location}/scores/{name}"
    if tid_type is None:
        tid_type = _stored_tid_type(uri, storage.storage_options) or pa.int64()
    if pa.types.is_string(tid_type) or pa.types.is_large_string(tid_type) or pa.types.is_string_view(tid_type):
        tid_type = pa.string()
    schema = schema.set(schema.get_field_index("tid"), pa.field("tid", tid_type))
    return DeltaDayTable(uri, schema, time_column="datetime", storage_options=storage.storage_options)


def _stored_tid_type(uri: str, storage_options: dict[str, str]) -> pa.DataType | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        stored = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
    except TableNotFoundError:
        return None
    return stored.field("tid").type
