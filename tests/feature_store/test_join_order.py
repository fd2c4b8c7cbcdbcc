"""The unordered join plus `spine_order` gives exactly the rows and order of the join's `ORDER BY`:
spines read in order (the scatter path), shuffled (the sort), with string or null ordering
columns (Arrow's sort), and filtered (positions with gaps)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.feature_store.point_in_time import (
    POSITION,
    JoinedSource,
    SpineSource,
    drop_hidden,
    point_in_time_sql,
    spine_order,
    take_in_order,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _tables(seed: int, order_key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 500
    spine = pd.DataFrame({
        "t": T0 + pd.to_timedelta(rng.integers(0, 40, n) * 600, unit="s"),  # many equal times
        "card": rng.integers(0, 15, n),
        "label": rng.integers(0, 2, n),
    })
    if order_key == "int":
        spine["sid"] = rng.permutation(10 * n)[:n]
    elif order_key == "string":
        spine["sid"] = [f"id-{i}" for i in rng.permutation(10 * n)[:n]]  # "id-10" < "id-9"
    else:  # nullable: DuckDB puts nulls last
        spine["sid"] = pd.array(np.where(rng.random(n) < 0.1, -1, rng.permutation(10 * n)[:n]), dtype="Int64")
        spine.loc[spine["sid"] == -1, "sid"] = pd.NA
    right = pd.DataFrame({
        "pk": rng.permutation(10 * n)[:300], "card": rng.integers(0, 12, 300),
        "t": T0 + pd.to_timedelta(rng.integers(0, 40, 300) * 600, unit="s"), "value": rng.random(300),
    })
    for frame in (spine, right):
        frame["t"] = frame["t"].astype("datetime64[us, UTC]")
    return spine, right


def _sources(where_label: bool) -> tuple[SpineSource, list[JoinedSource], str | None]:
    spine = SpineSource(relation="spine", event_time="t", order_by=("sid",),
                        columns=(("sid", "sid"), ("t", "t"), ("card", "card"), ("label", "label")))
    joins = [JoinedSource(relation="r", spine_keys=("card",), keys=("card",), event_time="t", primary_key=("pk",),
                          columns=(("value", "value"),), audit_name="r")]
    return spine, joins, ('"label" = 1' if where_label else None)


@pytest.mark.parametrize("order_key", ["int", "string", "nullable"])
@pytest.mark.parametrize("presorted", [True, False])
@pytest.mark.parametrize("where_label", [False, True])
def test_unordered_join_in_spine_order_equals_order_by(order_key, presorted, where_label):
    spine_rows, right = _tables(3, order_key)
    if presorted:
        spine_rows = spine_rows.sort_values(["t", "sid"], na_position="last", kind="stable", ignore_index=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.register("spine", spine_rows)
    con.register("r", right)
    spine, joins, where = _sources(where_label)
    expected = drop_hidden(con.sql(point_in_time_sql(spine, joins, where=where)).to_arrow_table())
    unordered = con.sql(point_in_time_sql(spine, joins, where=where, ordered=False)).to_arrow_table()
    assert POSITION in unordered.column_names
    got = take_in_order(drop_hidden(unordered), spine_order(unordered, spine))
    if order_key == "nullable":  # rows tied on (t, null) may come in any order under ORDER BY too
        key = ["t", "sid", "card", "label", "value"]
        got, expected = (t.to_pandas().sort_values(key, na_position="last", ignore_index=True) for t in (got, expected))
        pd.testing.assert_frame_equal(got, expected)
    else:
        assert got.equals(expected)
    assert len(got) == (int((spine_rows["label"] == 1).sum()) if where_label else len(spine_rows))


def test_spine_read_in_order_takes_the_scatter_path():
    """A spine in (time, key) order maps straight through its positions; one out of order is sorted."""
    spine, joins, _ = _sources(False)
    spine_rows, right = _tables(5, "int")
    spine_rows = spine_rows.sort_values(["t", "sid"], ignore_index=True)
    con = duckdb.connect()
    con.register("spine", spine_rows)
    con.register("r", right)
    unordered = con.sql(point_in_time_sql(spine, joins, ordered=False)).to_arrow_table()
    order = spine_order(unordered, spine)
    np.testing.assert_array_equal(unordered[POSITION].to_numpy()[order], np.arange(1, len(spine_rows) + 1))
    assert take_in_order(unordered, order)["sid"].to_pylist() == spine_rows["sid"].tolist()
    empty = con.sql(point_in_time_sql(spine, joins, where="FALSE", ordered=False)).to_arrow_table()
    assert len(spine_order(empty, spine)) == 0


def test_dates_and_times_order_as_integers():
    spine = SpineSource(relation="s", event_time="t", order_by=("d",), columns=(("d", "d"), ("t", "t")))
    rows = pd.DataFrame({"t": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01"], utc=True),
                         "d": [dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(1960, 1, 1)],
                         "card": [1, 1, 1]})
    con = duckdb.connect()
    con.register("s", rows)
    joins = [JoinedSource(relation="s", spine_keys=("card",), keys=("card",), event_time="t", primary_key=("d",),
                          columns=(), audit_name="s")]
    unordered = con.sql(point_in_time_sql(spine, joins, ordered=False)).to_arrow_table()
    ordered = take_in_order(drop_hidden(unordered), spine_order(unordered, spine))
    assert ordered["d"].to_pylist() == [dt.date(1960, 1, 1), dt.date(2021, 1, 1), dt.date(2020, 1, 1)]
