"""One point-in-time rule for every reader: the feature store's two engines (DuckDB's ASOF join and
the array join), the vectorized lookup of the feature logic and the scalar one of the request path
agree row for row, ties included (a right row applies from its own instant; of rows sharing key and time, the greatest
primary key wins)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from feature_logic.inputs import FeatureInputError
from feature_logic.point_in_time import asof_positions
from feature_logic.request_features import Version, _as_of
from fraud_pipelines.feature_store.array_join import join_arrays
from fraud_pipelines.feature_store.point_in_time import JoinedSource, SpineSource, drop_hidden, point_in_time_sql

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _case(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_spine, n_right = 300, 200
    # Few distinct instants and keys: exact-time matches and (key, time) ties are common.
    spine = pd.DataFrame({"sid": np.arange(n_spine), "key": rng.integers(0, 12, n_spine),
                          "t": T0 + pd.to_timedelta(rng.integers(0, 20, n_spine) * 600, unit="s")})
    right = pd.DataFrame({"pk": rng.permutation(10 * n_right)[:n_right], "key": rng.integers(0, 10, n_right),
                          "t": T0 + pd.to_timedelta(rng.integers(0, 20, n_right) * 600, unit="s"),
                          "value": rng.integers(0, 1_000_000, n_right)})
    for frame in (spine, right):
        frame["t"] = frame["t"].astype("datetime64[us, UTC]")
    return spine, right


SPINE = SpineSource(relation="spine", event_time="t", order_by=("sid",), columns=(("sid", "sid"), ("t", "t")))
JOINS = [JoinedSource(relation="r", spine_keys=("key",), keys=("key",), event_time="t", primary_key=("pk",),
                      columns=(("value", "value"),), audit_name="r")]


def _store(spine: pd.DataFrame, right: pd.DataFrame, engine: str = "duckdb") -> np.ndarray:
    """The feature store's join, as feature views run it: DuckDB's ASOF join or the array join."""
    con = duckdb.connect()
    con.register("spine", spine)
    con.register("r", right)
    if engine == "duckdb":
        joined = con.sql(point_in_time_sql(SPINE, JOINS)).to_arrow_table()
    else:
        joined = join_arrays(con.sql("SELECT sid, t, key FROM spine").to_arrow_table(), SPINE,
                             [con.sql("SELECT key, t, pk, value FROM r").to_arrow_table()], JOINS)
    con.close()
    frame = drop_hidden(joined).to_pandas().set_index("sid").loc[spine["sid"]]
    return frame["value"].fillna(-1).astype(np.int64).to_numpy()


def _micros(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert(None).to_numpy().astype("datetime64[us]").astype(np.int64)


def _vectorized(spine: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    (positions,) = asof_positions(spine["key"].to_numpy(), _micros(spine["t"]),
                                  [(right["key"].to_numpy(), _micros(right["t"]), "r", right["pk"].to_numpy())])
    return np.where(positions >= 0, right["value"].to_numpy()[np.maximum(positions, 0)], -1)


def _scalar(spine: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    """The request path: a card's versions kept in (event time, primary key) order, one lookup each."""
    ordered = right.assign(micros=_micros(right["t"])).sort_values(["micros", "pk"])
    versions = {key: [Version(int(m), int(v)) for m, v in zip(rows["micros"], rows["value"])]
                for key, rows in ordered.groupby("key")}
    out = []
    for key, micros in zip(spine["key"], _micros(spine["t"])):
        found = _as_of(versions.get(key, []), int(micros))
        out.append(-1 if found is None else found.days)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_store_vectorized_and_scalar_lookups_agree_on_ties(seed: int) -> None:
    spine, right = _case(seed)
    assert right.duplicated(["key", "t"]).any()  # the case really has ties
    store = _store(spine, right)
    assert (store >= 0).any() and (store == -1).any()  # matches and rows with no earlier version
    np.testing.assert_array_equal(_store(spine, right, "arrays"), store)
    np.testing.assert_array_equal(_vectorized(spine, right), store)
    np.testing.assert_array_equal(_scalar(spine, right), store)


def test_without_a_primary_key_a_tie_is_a_duplicate_and_refused() -> None:
    spine, right = _case(0)
    with pytest.raises(FeatureInputError, match="ambiguous"):
        asof_positions(spine["key"].to_numpy(), _micros(spine["t"]),
                       [(right["key"].to_numpy(), _micros(right["t"]), "r")])
    unique = right.sort_values("pk").drop_duplicates(["key", "t"], keep="last")
    (positions,) = asof_positions(spine["key"].to_numpy(), _micros(spine["t"]),
                                  [(unique["key"].to_numpy(), _micros(unique["t"]), "r")])
    values = np.where(positions >= 0, unique["value"].to_numpy()[np.maximum(positions, 0)], -1)
    np.testing.assert_array_equal(values, _store(spine, right))
