"""The array join against DuckDB's ASOF join, one rule: the same rows in the same order, bit for bit,
on data full of what the rule is about (ties by primary key, keys never seen, null keys and times on
either side, unsorted spines, string keys, one row or many per key); and the feature view choosing
its engine by shape, each engine forced, against the brute-force oracle."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines.feature_store import FeatureStore, InvalidInputError
from fraud_pipelines.feature_store.array_join import join_arrays, leakage, source_columns, spine_columns, unsupported
from fraud_pipelines.feature_store.offline_store import TimeRange
from fraud_pipelines.feature_store.point_in_time import (
    JoinedSource,
    SpineSource,
    drop_hidden,
    leakage_audit,
    point_in_time_sql,
)

from .oracle import point_in_time_oracle, same_value
from .test_feature_view_oracle import _build

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _times(rng: np.random.Generator, n: int, slots: int = 30) -> pd.Series:
    return pd.Series(T0 + pd.to_timedelta(rng.integers(0, slots, n) * 600, unit="s")).astype("datetime64[us, UTC]")


def _case(seed: int, *, key: str, nulls: bool, presorted: bool) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A spine and two sources: `versions` (several rows per key, ties on (key, time) broken by
    `pk`) and `single` (one row per key, like a charge's own features joined on its id)."""
    rng = np.random.default_rng(seed)
    n = 400
    spine = pd.DataFrame({"sid": rng.permutation(10 * n)[:n], "card": rng.integers(0, 15, n),
                          "t": _times(rng, n), "label": rng.integers(0, 2, n).astype(np.int8)})
    versions = pd.DataFrame({"pk": rng.permutation(10 * n)[:250], "card": rng.integers(0, 12, 250),  # 12-14: never
                             "t": _times(rng, 250), "value": rng.random(250),
                             "city": rng.choice(["Oslo", "Rome", "Lima"], 250)})
    single = pd.DataFrame({"sid": spine["sid"].sample(frac=0.8, random_state=seed).to_numpy(),
                           "t": _times(rng, 320, slots=34), "amount": rng.integers(1, 500, 320)})
    if key == "string":
        for frame in (spine, versions):
            frame["card"] = [f"card-{c}" for c in frame["card"]]  # "card-10" < "card-9"
        versions["pk"] = [f"pk-{p}" for p in versions["pk"]]  # ties broken by string order
    if nulls:
        spine["card"] = spine["card"].astype(object).where(rng.random(n) > 0.1, None)
        spine["t"] = spine["t"].where(rng.random(n) > 0.05, pd.NaT)
        versions["card"] = versions["card"].astype(object).where(rng.random(250) > 0.1, None)
        versions["t"] = versions["t"].where(rng.random(250) > 0.1, pd.NaT)
        # versions from before 1970: a null spine time read as 0 would wrongly match them
        versions.loc[versions.index[:12], "t"] = pd.Timestamp("1969-06-01", tz="UTC")
    if presorted:
        spine = spine.sort_values(["t", "sid"], na_position="last", ignore_index=True)
    return spine, {"versions": versions, "single": single}


def _arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "card" in table.column_names and table["card"].type == pa.float64():  # ints with None
        table = table.set_column(table.column_names.index("card"), "card", table["card"].cast(pa.int64()))
    return table


SPINE = SpineSource(relation="spine", event_time="t", order_by=("sid",),
                    columns=(("sid", "sid"), ("t", "t"), ("card", "card"), ("label", "label")))
JOINS = [
    JoinedSource(relation="versions", spine_keys=("card",), keys=("card",), event_time="t", primary_key=("pk",),
                 columns=(("value", "value"), ("city", "city"), ("t", "v_t")), audit_name="versions"),
    JoinedSource(relation="single", spine_keys=("sid",), keys=("sid",), event_time="t", primary_key=("sid",),
                 columns=(("amount", "amount"),), audit_name="single"),
]


def _both(spine: pd.DataFrame, sources: dict[str, pd.DataFrame], where: str | None = None):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("spine", _arrow(spine))
    for name, frame in sources.items():
        con.register(name, _arrow(frame))
    sql = con.sql(point_in_time_sql(SPINE, JOINS, where=where)).to_arrow_table()

    def read(relation: str, columns: list[str]) -> pa.Table:
        return con.sql(f"SELECT {', '.join(columns)} FROM {relation}").to_arrow_table()

    assert unsupported(read("spine", spine_columns(SPINE, JOINS)).schema, SPINE,
                       [read(j.relation, source_columns(j)).schema for j in JOINS], JOINS) is None
    arrays = join_arrays(read("spine", spine_columns(SPINE, JOINS)), SPINE,
                         [read(j.relation, source_columns(j)) for j in JOINS], JOINS)
    if where is not None:
        con.register("joined_rows", arrays)
        arrays = arrays.filter(con.sql(f"SELECT coalesce(({where}), false) FROM joined_rows").to_arrow_table()[0])
    con.close()
    return sql, arrays


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("key", ["int", "string"])
@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("presorted", [True, False])
def test_array_join_equals_the_sql_join(seed, key, nulls, presorted):
    spine, sources = _case(seed, key=key, nulls=nulls, presorted=presorted)
    sql, arrays = _both(spine, sources)
    assert drop_hidden(arrays).equals(drop_hidden(sql))
    assert leakage(arrays, JOINS) == leakage_audit(sql, SPINE, JOINS)
    joined = drop_hidden(arrays).to_pandas()
    # the data hit the cases: matches, misses, exact-time matches and (card, time) ties
    assert joined["value"].notna().any() and joined["value"].isna().any() and joined["amount"].isna().any()
    assert (joined["t"] == joined["v_t"]).any()
    versions = sources["versions"].dropna()
    assert versions.duplicated(["card", "t"]).any()


def test_array_join_with_a_filter_equals_the_sql_join():
    spine, sources = _case(5, key="int", nulls=True, presorted=False)
    where = '"label" = 1 AND "amount" > 100'
    sql, arrays = _both(spine, sources, where)
    assert 0 < arrays.num_rows < len(spine)
    assert drop_hidden(arrays).equals(drop_hidden(sql))


def test_array_join_of_an_empty_source_and_an_empty_spine():
    spine, sources = _case(1, key="int", nulls=False, presorted=False)
    sql, arrays = _both(spine, {name: frame.iloc[:0] for name, frame in sources.items()})
    assert drop_hidden(arrays).equals(drop_hidden(sql)) and arrays["value"].null_count == len(spine)
    sql, arrays = _both(spine.iloc[:0], sources)
    assert arrays.num_rows == 0 and drop_hidden(arrays).schema == drop_hidden(sql).schema


def test_shapes_left_to_duckdb_are_named():
    int_keys = pa.schema([("card", pa.int64()), ("t", pa.timestamp("us", tz="UTC"))])
    string_keys = pa.schema([("card", pa.string()), ("t", pa.timestamp("us", tz="UTC"))])
    ms_times = pa.schema([("card", pa.int64()), ("t", pa.timestamp("ms", tz="UTC"))])
    dates = pa.schema([("card", pa.int64()), ("t", pa.date32())])
    spine = SpineSource(relation="s", event_time="t", order_by=(), columns=(("card", "card"),))
    source = JoinedSource(relation="r", spine_keys=("card",), keys=("card",), event_time="t", primary_key=("card",),
                          columns=(), audit_name="r")
    assert unsupported(int_keys, spine, [int_keys], [source]) is None
    assert "key card is string" in unsupported(int_keys, spine, [string_keys], [source])
    assert "event time is timestamp[ms" in unsupported(int_keys, spine, [ms_times], [source])
    assert "not a timestamp" in unsupported(dates, spine, [int_keys], [source])
    two = JoinedSource(relation="r", spine_keys=("card", "t"), keys=("card", "t"), event_time="t",
                       primary_key=("card",), columns=(), audit_name="r")
    assert "2 key columns" in unsupported(int_keys, spine, [int_keys], [two])


# --- through feature views ------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["arrays", "duckdb"])
@pytest.mark.parametrize("seed", range(3))
def test_each_engine_matches_the_oracle(tmp_path, engine, seed):
    case = _build(FeatureStore(tmp_path / "store", join_engine=engine), seed)
    x, y = case["view"].training_data(primary_key=True, event_time=True)
    got = x.assign(is_fraud=y).to_dict("records")
    expected = point_in_time_oracle(case["labels"], spine_time="datetime", spine_order=["tid"], joins=case["joins"])
    assert len(got) == len(expected) == 80
    assert [(c, e[c], g[c]) for e, g in zip(expected, got) for c in e if not same_value(e[c], g[c])] == []


def _frames(tmp_path, engine: str, seed: int) -> dict[str, pd.DataFrame]:
    store = FeatureStore(tmp_path / "store", join_engine=engine)
    view = _build(store, seed)["view"]
    x, y = view.training_data(primary_key=True, event_time=True)
    version = view.create_train_test_split(train_end="2024-01-01 05:00", test_start="2024-01-01 05:00")
    x_train, x_test, _, _ = view.get_train_test_split(version, primary_key=True, event_time=True)
    spine = x[["tid", "cc_num", "datetime"]].sample(frac=1.0, random_state=seed)  # a caller's unsorted spine
    batch = view.get_batch_data(spine=spine, primary_key=True, event_time=True)
    return {"x": x.assign(y=y), "train": x_train, "test": x_test, "batch": batch}


@pytest.mark.parametrize("seed", range(2))
def test_engines_give_identical_frames_through_a_view(tmp_path, seed):
    arrays = _frames(tmp_path / "a", "arrays", seed)
    duck = _frames(tmp_path / "d", "duckdb", seed)
    auto = _frames(tmp_path / "auto", "auto", seed)
    for name in arrays:
        pd.testing.assert_frame_equal(arrays[name], duck[name], check_exact=True)
        pd.testing.assert_frame_equal(auto[name], duck[name], check_exact=True)
    assert 0 < len(arrays["train"]) < len(arrays["x"]) and len(arrays["batch"]) == len(arrays["x"])


def test_auto_leaves_multi_key_joins_to_duckdb_and_arrays_refuses_them(tmp_path):
    frames = {}
    for engine in ("auto", "duckdb", "arrays"):
        store = FeatureStore(tmp_path / engine, join_engine=engine)
        spine = store.get_or_create_feature_group("spine", primary_key=["sid"], event_time="t")
        right = store.get_or_create_feature_group("right", primary_key=["card", "shop"], event_time="t")
        spine.insert(pd.DataFrame({"sid": [1, 2, 3], "card": [1, 1, 2], "shop": [7, 8, 7],
                                   "t": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"], utc=True)}))
        right.insert(pd.DataFrame({"card": [1, 1, 2], "shop": [7, 8, 9], "v": [0.5, 1.5, 2.5],
                                   "t": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-01"], utc=True)}))
        view = store.get_or_create_feature_view("v", query=spine.select_all().join(right.select(["v"]),
                                                                                   on=["card", "shop"]), labels=[])
        if engine == "arrays":
            with pytest.raises(InvalidInputError, match="2 key columns"):
                view.training_data()
        else:
            frames[engine] = view.training_data(primary_key=True)[0]
    pd.testing.assert_frame_equal(frames["auto"], frames["duckdb"])
    assert frames["auto"]["v"].tolist()[0] == 0.5 and frames["auto"]["v"].isna().sum() == 2


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="join_engine 'polars'"):
        FeatureStore(tmp_path, join_engine="polars")  # type: ignore[arg-type]


def test_the_default_engine_is_the_array_join(tmp_path):
    """What the bench measures as the project: a view of single-key joins runs on arrays."""
    store = FeatureStore(tmp_path / "store")
    case = _build(store, 0)
    view = case["view"]
    rows = view._plan.join(store._context.connect(), view._snapshots(), TimeRange())
    assert rows.order is None and rows.num_rows == 80  # built in order: nothing left to reorder
