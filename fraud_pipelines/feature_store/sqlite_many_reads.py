"""Joined reads of many keys at once from a `SQLiteOnlineStore`: what `joined_lookup` does for one
key, for a batch of keys (e.g. the concurrent requests a server coalesces), in one statement, so
every key's rows of every table come from one snapshot and one trip through SQLite's VM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import InvalidInputError
from .online_store import OnlineTableSpec, Row, SQLiteOnlineStore, _apply, _decoders
from .sql import quote

#: Most keys one statement binds (SQLite's default limit on parameters is 32,766).
MAX_KEYS = 500


def joined_lookup_many(
    store: SQLiteOnlineStore, tables: Sequence[tuple[OnlineTableSpec, Sequence[str]]]
) -> Callable[[Sequence[Row]], list[list[Row | None]]]:
    """A prepared reader: keys (tuples of one value) -> per key, its row of each table (None where
    missing), in the order given. The tables must be keyed by one column."""
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

    def fetch_many(keys: Sequence[Row]) -> list[list[Row | None]]:
        values = list(dict.fromkeys(key[0] for key in keys))
        found: dict[object, list[Row | None]] = {}
        con = store._connection()
        for begin in range(0, len(values), MAX_KEYS):
            chunk = values[begin:begin + MAX_KEYS]
            sql = statements.get(len(chunk))
            if sql is None:
                sql = statements[len(chunk)] = f"WITH key(k) AS (VALUES {', '.join(['(?)'] * len(chunk))}) {tail}"
            for row in con.execute(sql, chunk):
                found[row[0]] = [None if row[start] is None else _apply(decode, row[start + 1:end])
                                 for start, end, decode in prepared]
        missing = [None] * len(prepared)
        return [found.get(key[0], missing) for key in keys]
    return fetch_many
