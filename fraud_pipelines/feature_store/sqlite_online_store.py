"""The embedded online store: one SQLite file under the store's root, WAL journal, one `WITHOUT ROWID`
table per feature group version keyed by its primary key; safe across threads and processes.

Writes never go back in time (see `online_store`); `merge_event` adds one event to a row's event-list
column inside one transaction, so concurrent writers of one key lose nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from .errors import InvalidInputError, SchemaMismatchError
from .event_lists import EventMerge, merge_event
from .online_store import (
    OnlineStore,
    OnlineTableSpec,
    Row,
    _as_bool,
    _as_date,
    _as_naive_time,
    _as_utc_time,
    _check_event_list,
    _describe,
    _encode,
    time_bounds,
)
from .sql import quote

_CHUNK = 500  # keys per SELECT ... IN (...)


class SQLiteOnlineStore(OnlineStore):
    """The embedded online store: one SQLite file (WAL), safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._local = threading.local()
        self._known: set[str] = set()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid():
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, cached_statements=256)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS _online_tables (name TEXT PRIMARY KEY, spec TEXT NOT NULL)"
            )
            self._local.con, self._local.pid = con, os.getpid()
        return con

    def update(self, table: OnlineTableSpec) -> None:
        """Create the table, or verify that the stored one has the same columns and key."""
        spec = json.dumps(_describe(table), sort_keys=True)
        con = self._connection()
        found = con.execute("SELECT spec FROM _online_tables WHERE name = ?", (table.name,)).fetchone()
        if found is not None:
            if found[0] != spec:
                raise SchemaMismatchError(
                    f"online table {table.name} exists with another layout ({found[0]}), not {spec}; "
                    "create a new feature group version"
                )
            self._known.add(table.name)
            return
        columns = ", ".join(f"{quote(f.name)} {_sqlite_type(table.name, f)}" for f in table.schema)
        key = ", ".join(quote(k) for k in table.key_columns)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {quote(table.name)} ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID"
            )
            con.execute("INSERT OR IGNORE INTO _online_tables (name, spec) VALUES (?, ?)", (table.name, spec))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._known.add(table.name)

    def _write_latest(self, table: OnlineTableSpec, rows: pa.Table) -> None:
        """One transaction; the upsert's WHERE keeps a newer stored row."""
        encoded = [_encode(rows[f.name], f.type).to_pylist() for f in table.schema]
        names = [quote(n) for n in table.schema.names]
        target, time = quote(table.name), quote(table.event_time)
        updates = ", ".join(f"{n} = excluded.{n}" for n in names)
        sql = (
            f"INSERT INTO {target} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT ({', '.join(quote(k) for k in table.key_columns)}) DO UPDATE SET {updates} "
            f"WHERE excluded.{time} >= {target}.{time}"
        )
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(sql, zip(*encoded))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def reset_rows(self, table: OnlineTableSpec, rows: pa.Table, gone: Sequence[Row], *, since: dt.datetime,
                   until: dt.datetime) -> None:
        """One transaction of conditional UPDATEs and DELETEs (see `OnlineStore.reset_rows`)."""
        low, high = time_bounds(table, since, until)
        target, time = quote(table.name), quote(table.event_time)
        where = " AND ".join(f"{quote(k)} = ?" for k in table.key_columns) + f" AND {time} >= ? AND {time} < ?"
        names = table.schema.names
        encoded = [_encode(rows[name], table.schema.field(name).type).to_pylist() for name in names]
        positions = [names.index(k) for k in table.key_columns]
        update = f"UPDATE {target} SET {', '.join(f'{quote(n)} = ?' for n in names)} WHERE {where}"
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(update, [(*values, *(values[p] for p in positions), low, high)
                                     for values in zip(*encoded)])
            con.executemany(f"DELETE FROM {target} WHERE {where}", [(*key, low, high) for key in gone])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def merge_event(self, table: OnlineTableSpec, key: Row, *, column: str, item: str,
                    retention_us: int) -> EventMerge:
        """Read, merge and write in one IMMEDIATE transaction: the write lock serializes writers of
        the file across threads and processes."""
        if table.name not in self._known:
            self.update(table)
        _check_event_list(table, column)
        target, time, listed = quote(table.name), quote(table.event_time), quote(column)
        where = " AND ".join(f"{quote(k)} = ?" for k in table.key_columns)
        names = [*(quote(k) for k in table.key_columns), time, listed]
        upsert = (
            f"INSERT INTO {target} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT ({', '.join(quote(k) for k in table.key_columns)}) DO UPDATE SET "
            f"{time} = excluded.{time}, {listed} = excluded.{listed}"
        )
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            found = con.execute(f"SELECT {listed} FROM {target} WHERE {where}", tuple(key)).fetchone()
            outcome, text, newest = merge_event(found[0] if found else None, item, retention_us=retention_us)
            if outcome is EventMerge.STORED:
                con.execute(upsert, (*key, newest, text))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return outcome

    def read(self, table: OnlineTableSpec, keys: Sequence[Row], columns: Sequence[str]) -> list[Row | None]:
        """Rows for many keys, a few hundred per SELECT."""
        decode = _decoders(table, columns)
        width = len(table.key_columns)
        key_list = ", ".join(quote(k) for k in table.key_columns)
        select = ", ".join([*(quote(k) for k in table.key_columns), *(quote(c) for c in columns)])
        found: dict[Row, Row] = {}
        con = self._connection()
        unique = list(dict.fromkeys(tuple(k) for k in keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            if width == 1:
                where = f"{key_list} IN ({', '.join('?' * len(chunk))})"
                params: list[Any] = [k[0] for k in chunk]
            else:
                tuples = ", ".join(f"({', '.join('?' * width)})" for _ in chunk)
                where = f"({key_list}) IN (VALUES {tuples})"
                params = [v for k in chunk for v in k]
            for row in con.execute(f"SELECT {select} FROM {quote(table.name)} WHERE {where}", params):
                found[tuple(row[:width])] = _apply(decode, row[width:])
        return [found.get(tuple(k)) for k in keys]

    def lookup(self, table: OnlineTableSpec, columns: Sequence[str]) -> Callable[[Row], Row | None]:
        """One prepared statement, decoders resolved once: a single indexed SELECT per call."""
        decode = _decoders(table, columns)
        where = " AND ".join(f"{quote(k)} = ?" for k in table.key_columns)
        sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} WHERE {where}"
        connection = self._connection
        if not any(decode):
            def fetch_plain(key: Row) -> Row | None:
                return connection().execute(sql, key).fetchone()
            return fetch_plain

        def fetch(key: Row) -> Row | None:
            row = connection().execute(sql, key).fetchone()
            return None if row is None else _apply(decode, row)
        return fetch

    def joined_lookup(
        self, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
    ) -> Callable[[Row], list[Row | None]]:
        """Like `lookup`, for the same key in several tables at once: one SELECT (a LEFT JOIN of each
        table to the key), not one per table. The tables must share the key's width."""
        widths = {len(table.key_columns) for table, _ in tables}
        if len(widths) != 1:
            raise InvalidInputError(f"joined_lookup needs tables keyed alike, got key widths {sorted(widths)}")
        (width,) = widths
        key = ", ".join(f"? AS k{i}" for i in range(width))
        selected, joins, prepared = [], [], []
        for index, (table, columns) in enumerate(tables):
            alias = f"t{index}"
            on = " AND ".join(f"{alias}.{quote(k)} = key.k{i}" for i, k in enumerate(table.key_columns))
            joins.append(f"LEFT JOIN {quote(table.name)} AS {alias} ON {on}")
            start = len(selected)
            selected += [f"{alias}.{quote(table.key_columns[0])}", *(f"{alias}.{quote(c)}" for c in columns)]
            prepared.append((start, start + 1 + len(columns), _decoders(table, columns)))
        sql = f"SELECT {', '.join(selected)} FROM (SELECT {key}) AS key {' '.join(joins)}"
        connection = self._connection

        def fetch(key: Row) -> list[Row | None]:
            row = connection().execute(sql, key).fetchone()
            return [None if row[start] is None else _apply(decode, row[start + 1:end])
                    for start, end, decode in prepared]
        return fetch

    def joined_lookup_many(
        self, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
    ) -> Callable[[Sequence[Row]], list[list[Row | None]]]:
        """`joined_lookup` for a batch of keys (e.g. the concurrent requests a server coalesces): one
        statement per chunk of keys, so every key's rows of every table come from one snapshot and one
        trip through SQLite's VM. Keys are one-value tuples; the tables must be keyed by one column.
        Answers per key, in the order given."""
        if any(len(table.key_columns) != 1 for table, _ in tables):
            raise InvalidInputError("joined_lookup_many needs tables keyed by one column")
        selected, joins, prepared = ["key.k"], [], []
        for index, (table, columns) in enumerate(tables):
            alias = f"t{index}"
            joins.append(f"LEFT JOIN {quote(table.name)} AS {alias} ON {alias}.{quote(table.key_columns[0])} = key.k")
            start = len(selected)
            selected += [f"{alias}.{quote(table.key_columns[0])}", *(f"{alias}.{quote(c)}" for c in columns)]
            prepared.append((start, start + 1 + len(columns), _decoders(table, columns)))
        tail = f"SELECT {', '.join(selected)} FROM key {' '.join(joins)}"
        statements: dict[int, str] = {}
        connection = self._connection

        def fetch_many(keys: Sequence[Row]) -> list[list[Row | None]]:
            values = list(dict.fromkeys(key[0] for key in keys))
            found: dict[object, list[Row | None]] = {}
            con = connection()
            for begin in range(0, len(values), _CHUNK):
                chunk = values[begin:begin + _CHUNK]
                sql = statements.get(len(chunk))
                if sql is None:
                    sql = statements[len(chunk)] = f"WITH key(k) AS (VALUES {', '.join(['(?)'] * len(chunk))}) {tail}"
                for row in con.execute(sql, chunk):
                    found[row[0]] = [None if row[start] is None else _apply(decode, row[start + 1:end])
                                     for start, end, decode in prepared]
            missing = [None] * len(prepared)
            return [found.get(key[0], missing) for key in keys]
        return fetch_many

    def batch_lookup(
        self, table: OnlineTableSpec, columns: Sequence[str]
    ) -> Callable[[Sequence[Row]], list[Row | None]]:
        """`read` prepared once: decoders resolved and statements built per chunk size, rows fetched
        with one `fetchall` per chunk and no per-row decoding when no column needs it."""
        return self._batch_readers(table, columns)[0]

    def value_lookup(
        self, table: OnlineTableSpec, columns: Sequence[str]
    ) -> Callable[[Sequence[Any]], list[Row | None]]:
        """`batch_lookup` of a one-column key given as plain values."""
        return self._batch_readers(table, columns)[1] or super().value_lookup(table, columns)

    def joined_value_lookup(
        self, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
    ) -> Callable[[Sequence[Any]], list[Row]] | None:
        """One SELECT for all `tables`: each LEFT JOINed by its key to a VALUES list of the keys, rows
        in the keys' order (one statement instead of one per table, and no key-to-row dictionaries).
        None unless every table has a one-column key and values that need no decoding."""
        if any(len(table.key_columns) != 1 or any(_decoders(table, columns)) for table, columns in tables):
            return None
        select = ", ".join(f"t{i}.{quote(c)}" for i, (_, columns) in enumerate(tables) for c in columns)
        joins = " ".join(f"LEFT JOIN {quote(table.name)} t{i} ON t{i}.{quote(table.key_columns[0])} = k.v"
                         for i, (table, _) in enumerate(tables))
        statements: dict[int, str] = {}
        connection = self._connection

        def statement(size: int) -> str:
            sql = statements.get(size)
            if sql is None:
                keys = ", ".join(f"({i}, ?)" for i in range(size))
                sql = statements[size] = f"WITH k(i, v) AS (VALUES {keys}) SELECT {select} FROM k {joins} ORDER BY k.i"
            return sql

        def fetch(values: Sequence[Any]) -> list[Row]:
            con = connection()
            rows: list[Row] = []
            for start in range(0, len(values), _CHUNK):
                chunk = values[start:start + _CHUNK]
                rows += con.execute(statement(len(chunk)), chunk).fetchall()
            return rows
        return fetch

    def _batch_readers(
        self, table: OnlineTableSpec, columns: Sequence[str]
    ) -> tuple[Callable[[Sequence[Row]], list[Row | None]], Callable[[Sequence[Any]], list[Row | None]] | None]:
        """The many-key reader, and the plain-value reader when the key is one column and no value
        needs decoding (None otherwise)."""
        decode = _decoders(table, columns)
        plain = not any(decode)
        width = len(table.key_columns)
        key_list = ", ".join(quote(k) for k in table.key_columns)
        head = (f"SELECT {', '.join([*(quote(k) for k in table.key_columns), *(quote(c) for c in columns)])} "
                f"FROM {quote(table.name)} WHERE ")
        statements: dict[int, str] = {}
        connection = self._connection

        def statement(size: int) -> str:
            sql = statements.get(size)
            if sql is None:
                if width == 1:
                    sql = f"{head}{key_list} IN ({', '.join('?' * size)})"
                else:
                    one = f"({', '.join('?' * width)})"
                    sql = f"{head}({key_list}) IN (VALUES {', '.join([one] * size)})"
                statements[size] = sql
            return sql

        def fetch_values(values: Sequence[Any]) -> list[Row | None]:
            con = connection()
            unique = list(dict.fromkeys(values))
            by_value: dict[Any, Row] = {}
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start:start + _CHUNK]
                by_value.update({row[0]: row[1:] for row in con.execute(statement(len(chunk)), chunk)})
            return [by_value.get(v) for v in values]

        def fetch_many(keys: Sequence[Row]) -> list[Row | None]:
            if width == 1 and plain:  # the usual single-column key: no key tuples to slice
                return fetch_values([k[0] for k in keys])
            con = connection()
            unique = list(dict.fromkeys(keys))
            found: dict[Row, Row] = {}
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start:start + _CHUNK]
                params = [k[0] for k in chunk] if width == 1 else [v for k in chunk for v in k]
                rows = con.execute(statement(len(chunk)), params).fetchall()
                if plain:
                    found.update({row[:width]: row[width:] for row in rows})
                else:
                    found.update({row[:width]: _apply(decode, row[width:]) for row in rows})
            return [found.get(k) for k in keys]
        return fetch_many, (fetch_values if width == 1 and plain else None)

    def teardown(self, table: OnlineTableSpec) -> None:
        """Drop the table and forget its layout."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        con.execute(f"DROP TABLE IF EXISTS {quote(table.name)}")
        con.execute("DELETE FROM _online_tables WHERE name = ?", (table.name,))
        con.execute("COMMIT")
        self._known.discard(table.name)

    def delete(self, table: OnlineTableSpec, keys: Sequence[Row]) -> int:
        """Delete the keys' rows in one transaction, then rewrite the file (VACUUM) and truncate the WAL,
        so the deleted rows' bytes do not linger in free pages or the log."""
        con = self._connection()
        exists = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,))
        if exists.fetchone() is None or not keys:
            return 0
        where = " AND ".join(f"{quote(k)} = ?" for k in table.key_columns)
        removed = 0
        con.execute("BEGIN IMMEDIATE")
        try:
            for key in dict.fromkeys(tuple(k) for k in keys):
                removed += con.execute(f"DELETE FROM {quote(table.name)} WHERE {where}", key).rowcount
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if removed:
            con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def close(self) -> None:
        """Close this thread's connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _sqlite_type(table: str, field: pa.Field) -> str:
    kind = field.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "INTEGER"
    if pa.types.is_floating(kind):
        return "REAL"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "TEXT"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BLOB"
    raise SchemaMismatchError(f"online table {table}: column '{field.name}' of type {kind} cannot be stored online")


def _decoders(table: OnlineTableSpec, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    decoders: list[Callable[[Any], Any] | None] = []
    for name in columns:
        if name not in table.schema.names:
            raise InvalidInputError(f"online table {table.name} has no column '{name}'")
        kind = table.schema.field(name).type
        if pa.types.is_timestamp(kind):
            decoders.append(_as_utc_time if kind.tz else _as_naive_time)
        elif pa.types.is_date(kind):
            decoders.append(_as_date)
        elif pa.types.is_boolean(kind):
            decoders.append(_as_bool)
        else:
            decoders.append(None)
    return decoders


def _apply(decoders: Sequence[Callable[[Any], Any] | None], row: Row) -> Row:
    return tuple(v if d is None or v is None else d(v) for d, v in zip(decoders, row))
