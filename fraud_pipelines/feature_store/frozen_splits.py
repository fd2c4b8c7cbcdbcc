"""Training dataset splits frozen as Delta tables of their own: the rows of a split stored once and
read back as they were joined (same Arrow schema, same order), so readers need not re-run the join.

A split is written by `write_split` (rows in their order, numbered in a hidden `__row` column, the join's
Arrow schema kept in the table's description), checked (the committed row count must be the table's),
and only then may its URI be recorded in a training dataset version: a table that is not recorded is
never read as a version's data. `read_split` refuses a table whose row count is not the recorded one.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable, write_deltalake

from .catalog import filesystem_for
from .errors import FeatureStoreError
from .point_in_time import take_in_order

_ROW = "__row"
_VIEWS = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
#: Rows put in order and handed to the writer at a time (a DuckDB join's rows come unordered).
CHUNK_ROWS = 1 << 20
#: Runs of consecutive rows a scanned batch is cut into before the read gathers the whole table instead.
_MAX_CUTS = 8
#: Text before the base64 Arrow schema in the table's description.
_SCHEMA_MARK = "frozen training split; Arrow schema (IPC, base64): "


def split_uri(root: str, view: str, view_version: int, version: int | str, split: str) -> str:
    """Where one frozen split lives under the feature store's root: `version` is a recorded version
    number, or the draft id of a version being created (its number is known only once it is recorded)."""
    folder = f"v{version:06d}" if isinstance(version, int) else version
    return f"{view_folder(root, view, view_version)}/{folder}/{split}"


def view_folder(root: str, view: str, view_version: int) -> str:
    """The folder holding every stored split of one feature view version."""
    return f"{root}/frozen_training_data/{view}_v{view_version}"


def new_draft_id() -> str:
    """A folder name of its own for the splits of a version being created (its number is not known yet)."""
    return f"rows-{uuid.uuid4().hex[:16]}"


def write_split(uri: str, table: pa.Table, storage_options: Mapping[str, str] | None = None, *,
                order: np.ndarray | None = None, mode: Literal["error", "overwrite"] = "error",
                chunk_rows: int = CHUNK_ROWS) -> int:
    """Store `table`'s rows (taken in `order` when given, else as they are; `chunk_rows` at a time) as the
    split's current version, then check that the commit holds them all. `mode="error"` refuses an existing
    table. Returns the number of rows stored."""
    options = dict(storage_options or {})
    rows = table.num_rows if order is None else len(order)
    schema = table.schema.append(pa.field(_ROW, pa.int64()))
    write_deltalake(uri, pa.RecordBatchReader.from_batches(schema, _numbered(table, order, chunk_rows)), mode=mode,
                    schema_mode="overwrite" if mode == "overwrite" else None,
                    description=_SCHEMA_MARK + base64.b64encode(table.schema.serialize().to_pybytes()).decode(),
                    storage_options=options)
    stored = stored_rows(uri, options)
    if stored != rows:
        raise FeatureStoreError(f"frozen split {uri}: {stored:,} row(s) committed where {rows:,} were written")
    return rows


def stored_rows(uri: str, storage_options: Mapping[str, str] | None = None) -> int:
    """Rows of the split's current version, from the Delta log (no data read)."""
    actions = pa.table(DeltaTable(uri, storage_options=dict(storage_options or {})).get_add_actions(flatten=True))
    return int(pc.sum(actions["num_records"]).as_py() or 0) if actions.num_rows else 0


def read_split(uri: str, storage_options: Mapping[str, str] | None = None, *,
               expected_rows: int | None = None) -> pa.Table:
    """The frozen split, in the order and with the Arrow schema it was written with. With
    `expected_rows` (the version's recorded count), a table holding another number is refused."""
    options = dict(storage_options or {})
    table = DeltaTable(uri, storage_options=options)
    if expected_rows is not None:
        found = stored_rows(uri, options)
        if found != expected_rows:
            raise FeatureStoreError(
                f"frozen split {uri} holds {found:,} row(s) where its training dataset version recorded "
                f"{expected_rows:,}: it was changed outside the feature store (or not finished); not read: "
                "create a new training dataset version"
            )
    reader = pa.RecordBatchReader.from_stream(table.scan())
    written = _written_schema(table.metadata().description, reader.schema)
    return _in_order(list(reader), written.append(pa.field(_ROW, pa.int64())), uri)


def remove_folder(uri: str, storage_options: Mapping[str, str] | None = None) -> None:
    """Delete a draft's folder (splits of a version that will not be recorded); nothing when it is absent."""
    filesystem, path = filesystem_for(uri, storage_options)
    if filesystem.get_file_info(path).type.name != "NotFound":
        filesystem.delete_dir(path)


def stale_drafts(folder: str, recorded: set[str], older_than_seconds: float,
                 storage_options: Mapping[str, str] | None = None, *, now: float | None = None) -> list[str]:
    """Draft folders (`rows-*`) under a view's `folder` that no recorded version reads (`recorded`: their
    URIs) and whose newest file is older than `older_than_seconds`: left by a creation that was killed
    between writing its splits and recording them. A draft still being written is younger than that."""
    filesystem, path = filesystem_for(folder, storage_options)
    if filesystem.get_file_info(path).type.name == "NotFound":
        return []
    deadline = (time.time() if now is None else now) - older_than_seconds
    stale = []
    for entry in filesystem.get_file_info(pafs.FileSelector(path)):
        uri = f"{folder}/{entry.base_name}"
        if entry.type.name != "Directory" or not entry.base_name.startswith("rows-") or uri in recorded:
            continue
        files = filesystem.get_file_info(pafs.FileSelector(entry.path, recursive=True))
        newest = max((f.mtime.timestamp() for f in files if f.type.name == "File" and f.mtime is not None),
                     default=None)
        if newest is None and entry.mtime is not None:
            newest = entry.mtime.timestamp()
        if newest is None or newest < deadline:
            stale.append(uri)
    return sorted(stale)


def _numbered(table: pa.Table, order: np.ndarray | None, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """`table`'s rows in `order`, a chunk at a time, each with its position in the `__row` column."""
    rows = table.num_rows if order is None else len(order)
    for start in range(0, rows, chunk_rows):
        stop = min(start + chunk_rows, rows)
        chunk = table.slice(start, stop - start) if order is None else table.take(order[start:stop])
        chunk = chunk.append_column(_ROW, pa.array(np.arange(start, stop, dtype=np.int64)))
        yield from chunk.to_batches()


def _in_order(batches: list[pa.RecordBatch], schema: pa.Schema, uri: str) -> pa.Table:
    """The scanned batches as `schema` in `__row` order, without the column. Files hold runs of consecutive
    rows (ordered chunks), which the scan hands over in any order: cut into those runs and put in order by
    their first row, no value is copied. When there are many runs (a table rewritten in another order),
    each column is gathered once by the inverse of `__row` instead (no sort)."""
    runs = [run for batch in batches for run in _runs(batch)]
    del batches
    if not runs:
        return schema.empty_table().drop_columns([_ROW])
    runs.sort(key=lambda run: run[0])
    starts = np.fromiter((first for first, _, _ in runs), dtype=np.int64, count=len(runs))
    sizes = np.fromiter((batch.num_rows for _, batch, _ in runs), dtype=np.int64, count=len(runs))
    in_runs = all(consecutive for _, _, consecutive in runs)
    table = pa.Table.from_batches([batch for _, batch, _ in runs]).cast(schema)
    del runs
    if not (in_runs and np.array_equal(starts, np.concatenate(([0], np.cumsum(sizes)[:-1])))):
        rows = table.column(_ROW).to_numpy()
        position = np.full(len(rows), -1, dtype=np.int64)
        inside = (rows >= 0) & (rows < len(rows))
        position[rows[inside]] = np.flatnonzero(inside)
        if not inside.all() or (position < 0).any():
            raise FeatureStoreError(f"frozen split {uri}: its row numbers are not 0..{len(rows) - 1} once each; "
                                    "it was changed outside the feature store")
        table = take_in_order(table, position).cast(schema)  # the types again, with the schema's metadata
    return table.drop_columns([_ROW])


def _runs(batch: pa.RecordBatch) -> list[tuple[int, pa.RecordBatch, bool]]:
    """A batch cut where `__row` stops counting up by one: (first row number, slice, True) per run; a batch
    with more than a few runs is kept whole, marked False (the gather orders it)."""
    if not batch.num_rows:
        return []
    rows = batch.column(_ROW).to_numpy()
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(cuts) > _MAX_CUTS:
        return [(int(rows[0]), batch, False)]
    bounds = [0, *cuts.tolist(), len(rows)]
    return [(int(rows[a]), batch.slice(a, b - a), True) for a, b in zip(bounds, bounds[1:])]


def _written_schema(description: str | None, found: pa.Schema) -> pa.Schema:
    """The Arrow schema the split was written with; for splits frozen before it was kept, the scanned
    schema with delta-rs' view types made plain (as the join gives them), without `__row`."""
    if description and description.startswith(_SCHEMA_MARK):
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(description[len(_SCHEMA_MARK):])))
    return pa.schema([f.with_type(_VIEWS.get(f.type, f.type)) for f in found if f.name != _ROW])
