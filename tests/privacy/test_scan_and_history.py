"""The pieces erasure relies on, on real files: the scan finds a number in every form it can take,
a Delta delete-for-good leaves no older version or file holding the rows, and the online stores
delete a key's row for good."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from fraud_pipelines.feature_store.history import count_rows, delete_for_good
from fraud_pipelines.feature_store.online_store import OnlineTableSpec
from fraud_pipelines.feature_store.sqlite_online_store import SQLiteOnlineStore
from fraud_pipelines.privacy.scan import scan

SECRET = 4_444_037_300_542_691
OTHER = 5_500_000_000_000_004


def test_the_scan_finds_a_number_as_text_parquet_sqlite_and_bytes(tmp_path):
    assert scan(tmp_path, [SECRET]) == []
    (tmp_path / "a.json").write_text(json.dumps({"card": SECRET}))
    write_deltalake(str(tmp_path / "delta"), pa.table({"cc_num": pa.array([OTHER, SECRET], pa.int64())}))
    with sqlite3.connect(tmp_path / "b.db") as con:
        con.execute("CREATE TABLE t (k INTEGER)")
        con.execute("INSERT INTO t VALUES (?)", (SECRET,))
    (tmp_path / "c.bin").write_bytes(b"\x00" + SECRET.to_bytes(8, "little") + b"\x00")
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "d.csv").write_text(f"{SECRET}\n")
    found = scan(tmp_path, [SECRET], skip=("landing",))
    where = {(f.path.split("/")[-1], f.where) for f in found}
    assert ("a.json", "decimal text") in where and ("c.bin", "8-byte integer") in where
    assert any(name.endswith(".parquet") and how == "Parquet column cc_num" for name, how in where)
    assert ("b.db", "SQLite t") in where
    assert not any("landing" in f.path for f in found)
    assert scan(tmp_path, [SECRET + 1]) == []  # a neighbour is not a match
    assert scan(tmp_path, [int(str(SECRET)[:12])]) == []  # nor a prefix of the digits


def test_delete_for_good_leaves_no_older_version_nor_file_with_the_rows(tmp_path):
    uri = str(tmp_path / "table")
    for day in ("2025-01-01", "2025-01-02", "2025-01-03"):
        write_deltalake(uri, pa.table({"cc_num": pa.array([SECRET, OTHER], pa.int64()), "day": [day, day]}),
                        partition_by=["day"], mode="append")
    result = delete_for_good(uri, f"cc_num = {SECRET}")
    assert result["rows_deleted"] == 3 and result["files_removed"] >= 3
    assert count_rows(uri, f"cc_num = {SECRET}") == 0 and count_rows(uri, f"cc_num = {OTHER}") == 3
    with pytest.raises((TableNotFoundError, DeltaError, OSError)):
        DeltaTable(uri, version=0)  # the history before the erasure is gone
    assert scan(tmp_path, [SECRET]) == []  # data files, log, checkpoint: nowhere
    assert delete_for_good(uri, f"cc_num = {SECRET}")["rows_deleted"] == 0  # idempotent, no new commit
    table = DeltaTable(uri)
    assert table.metadata().configuration["delta.logRetentionDuration"] == "interval 30 days"  # defaults back
    write_deltalake(uri, pa.table({"cc_num": pa.array([OTHER], pa.int64()), "day": ["2025-01-04"]}), mode="append")
    assert count_rows(uri, "true") == 4  # the table takes writes as before


def test_the_sqlite_online_store_deletes_a_row_for_good(tmp_path):
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    spec = OnlineTableSpec(name="cards", key_columns=("cc_num",), event_time="t",
                           schema=pa.schema([("cc_num", pa.int64()), ("t", pa.int64()), ("v", pa.string())]))
    rows = pa.table({"cc_num": [SECRET, OTHER], "t": [1, 1], "v": [f"note {SECRET}", "other"]})
    assert store.write_batch(spec, rows) == 2
    assert scan(tmp_path, [SECRET])
    assert store.delete(spec, [(SECRET,), (SECRET,)]) == 1
    assert store.read(spec, [(SECRET,), (OTHER,)], ["v"]) == [None, ("other",)]
    assert store.delete(spec, [(SECRET,)]) == 0
    store.close()
    assert scan(tmp_path, [SECRET]) == []  # no free page or WAL frame keeps it


def test_a_frozen_split_reads_back_with_its_types_in_its_order(tmp_path):
    from fraud_pipelines.feature_store.frozen_splits import read_split, write_split

    rows = pa.table({"tid": pa.array([30, 10, 20], pa.int64()), "category": ["Grocery", None, "Other"],
                     "amount": [1.5, 2.25, 3.0]})
    write_split(str(tmp_path / "train"), rows)
    assert read_split(str(tmp_path / "train")).equals(rows)
