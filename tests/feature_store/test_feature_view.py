"""Feature views: training dataset versions (reproducible, split by time, fitted on train only),
batch data, query building rules and catalog round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.feature_store import (
    FeatureStore,
    InvalidInputError,
    NotFoundError,
    SchemaMismatchError,
)

from .conftest import DAY0, build_fraud_like, transactions

TRANSFORMS = {"amount": "min_max_scaler", "category": "one_hot_encoder", "profile_city": "label_encoder",
              "mean_amount": "standard_scaler"}


@pytest.fixture
def fraud(store: FeatureStore) -> dict:
    case = build_fraud_like(store)
    case["view"] = store.get_or_create_feature_view(
        "fraud", query=case["query"], labels=["is_fraud"], transformation_functions=TRANSFORMS
    )
    return case


def _day(n: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def test_x_columns_follow_the_column_rules(fraud: dict) -> None:
    view = fraud["view"]
    assert view.feature_names() == ["category", "amount", "tx_count", "mean_amount", "profile_city", "profile_age"]
    x, y = view.training_data(primary_key=True, event_time=True)
    assert list(x.columns[:3]) == ["tid", "cc_num", "datetime"]
    assert [c for c in x.columns if c.startswith("category_")] == [
        "category_Cash",
        "category_Grocery",
        "category_Travel",
    ]
    assert y.name == "is_fraud" and len(x) == len(y) == len(fraud["labels"])
    assert x.datetime.is_monotonic_increasing


def test_split_is_by_time_fitted_on_train_and_reproducible(store: FeatureStore, fraud: dict) -> None:
    view = fraud["view"]
    version = view.create_train_validation_test_split(
        train_end=_day(2), validation_start=_day(2), validation_end=_day(3), test_start=_day(3), description="3 way"
    )
    first = view.get_train_validation_test_split(version, event_time=True)
    x_train, x_val, x_test, y_train, y_val, y_test = first
    assert (
        x_train.datetime.max() < _day(2) <= x_val.datetime.min()
        and x_val.datetime.max() < _day(3) <= x_test.datetime.min()
    )
    assert x_train.amount.min() == 0.0 and x_train.amount.max() == 1.0  # min-max fitted on train only
    record = view.get_training_dataset(version)
    labels = fraud["labels"]
    train_amounts = fraud["tx"].set_index("tid").loc[labels[labels.datetime < _day(2)].tid, "amount"]
    assert record.transformations["amount"]["state"]["min_"] == train_amounts.min()
    assert record.row_counts == {"train": len(x_train), "validation": len(x_val), "test": len(x_test)}
    assert set(record.delta_versions) == {"fraud_labels_v1", "transactions_v1", "card_aggs_v1", "profiles_v1"}
    assert all(gap is None or gap <= 0 for split in record.leakage_audit.values() for gap in split.values())

    # new inserts (new rows and rewrites of existing ones) do not change a recorded version
    groups = fraud["groups"]
    groups["tx"].insert(fraud["tx"].head(20).assign(amount=1e6))
    groups["labels"].insert(transactions(1, seed=5, first_tid=50_000)[["tid", "cc_num", "datetime"]].assign(is_fraud=1))
    again = store.get_feature_view("fraud").get_train_validation_test_split(version, event_time=True)
    for before, after in zip(first, again):
        pd.testing.assert_frame_equal(pd.DataFrame(before), pd.DataFrame(after))
    newer = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    assert view.get_train_test_split(newer)[0].shape[0] > len(x_train)


def test_overlapping_or_incomplete_splits_are_refused(fraud: dict) -> None:
    view = fraud["view"]
    with pytest.raises(InvalidInputError, match="overlap"):
        view.create_train_test_split(train_end=_day(3), test_start=_day(2))
    with pytest.raises(InvalidInputError, match="must be before"):
        view.create_train_test_split(train_start=_day(3), train_end=_day(2))
    version = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    with pytest.raises(InvalidInputError, match="has splits"):
        view.get_train_validation_test_split(version)
    with pytest.raises(NotFoundError, match="no training dataset version 99"):
        view.get_train_test_split(99)


def test_batch_data_uses_the_versions_fitted_state(fraud: dict) -> None:
    view = fraud["view"]
    version = view.create_train_test_split(train_end=_day(2), test_start=_day(2))
    with pytest.raises(InvalidInputError, match="init_batch_scoring"):
        view.get_batch_data(_day(2), _day(3))
    view.init_batch_scoring(version)
    batch = view.get_batch_data(_day(2), _day(3))
    _, x_test, _, _ = view.get_train_test_split(version)
    expected = x_test.iloc[: len(batch)].reset_index(drop=True)
    pd.testing.assert_frame_equal(batch, expected)
    assert "is_fraud" not in batch.columns


def test_batch_data_on_a_spine_without_labels(fraud: dict) -> None:
    view = fraud["view"]
    view.init_batch_scoring(view.create_training_data(end_time=_day(3)))
    new = transactions(2, n=5, seed=11, first_tid=70_000)
    fraud["groups"]["tx"].insert(new)
    spine = new[["tid", "cc_num", "datetime"]].iloc[::-1]
    batch = view.get_batch_data(spine=spine, primary_key=True)
    assert batch.tid.tolist() == new.tid.tolist()  # ordered by event time
    with pytest.raises(InvalidInputError, match="lacks column"):
        view.get_batch_data(spine=spine.drop(columns=["cc_num"]))


def test_query_builder_is_immutable_and_refuses_clashes(fraud: dict) -> None:
    groups = fraud["groups"]
    base = groups["labels"].select_all()
    joined = base.join(groups["aggs"].select(["tx_count"]))
    assert base.joins == () and len(joined.joins) == 1
    with pytest.raises(InvalidInputError, match=r"\['amount'\] appear more than once"):
        joined.join(groups["tx"].select(["amount"]), on=["tid"]).join(groups["tx"].select(["amount"]), on=["tid"])
    with pytest.raises(InvalidInputError, match="not in spine"):
        base.join(groups["profiles"].select(["city"]), on=["city"])
    with pytest.raises(InvalidInputError, match="has no column"):
        groups["tx"].select(["nope"])
    filtered = joined.filter(groups["aggs"]["tx_count"] > 3)
    assert joined.condition is None and filtered.condition is not None


def test_filters_apply_after_the_join(store: FeatureStore, fraud: dict) -> None:
    groups = fraud["groups"]
    query = fraud["query"].filter((groups["aggs"]["tx_count"] >= 5) & groups["tx"]["category"].isin(["Cash", "Travel"]))
    view = store.get_or_create_feature_view("filtered", query=query, labels=["is_fraud"])
    x, _ = view.training_data()
    assert len(x) > 0 and (x.tx_count >= 5).all() and set(x.category) <= {"Cash", "Travel"}
    reopened = store.get_feature_view("filtered")
    pd.testing.assert_frame_equal(reopened.training_data()[0], x)


def test_get_or_create_view_refuses_a_changed_definition(store: FeatureStore, fraud: dict) -> None:
    same = store.get_or_create_feature_view("fraud", query=fraud["query"], labels=["is_fraud"],
                                            transformation_functions=TRANSFORMS)
    assert same.feature_names() == fraud["view"].feature_names()
    with pytest.raises(SchemaMismatchError, match="create version 2"):
        store.get_or_create_feature_view("fraud", query=fraud["query"], labels=["is_fraud"])
    with pytest.raises(InvalidInputError, match="unknown"):
        store.get_or_create_feature_view("other", query=fraud["query"], transformation_functions={"amount": "log"})
    with pytest.raises(InvalidInputError, match="not among the query's columns"):
        store.get_or_create_feature_view("other", query=fraud["query"], labels=["fraud"])
    assert store.feature_views() == [("fraud", 1)]


class Log1p:
    """log(1 + x): a stateless custom transformation."""

    def fit(self, values: pd.Series) -> Log1p:
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        return np.log1p(values)


def test_custom_transformation_registered_by_name(store: FeatureStore, fraud: dict) -> None:
    store.register_transformation("log1p", Log1p)
    view = store.get_or_create_feature_view("logged", query=fraud["query"], labels=["is_fraud"],
                                            transformation_functions={"amount": Log1p()})
    x, _ = view.training_data(primary_key=True)
    raw = fraud["tx"].set_index("tid").loc[x.tid, "amount"].to_numpy()
    np.testing.assert_allclose(x.amount.to_numpy(), np.log1p(raw))


def test_filter_conditions_render_to_sql_and_survive_the_catalog() -> None:
    from fraud_pipelines.feature_store.query import Condition, FeatureRef

    amount, city = FeatureRef("tx", 1, "amount"), FeatureRef("profiles", 1, "city")
    condition = ((amount >= 10) | (city == None)) & ~city.isin(["O'Hare", "Rome"])  # noqa: E711
    names = {"amount": "amount", "city": "p_city"}
    sql = condition.sql(lambda f: names[f.column])
    assert sql == '((("amount" >= 10) OR ("p_city" IS NULL)) AND (NOT ("p_city" IN (\'O\'\'Hare\', \'Rome\'))))'
    assert Condition.from_dict(condition.to_dict()).sql(lambda f: names[f.column]) == sql
    with pytest.raises(TypeError, match="combine filter conditions"):
        bool(amount > 1)


def test_filter_operators_are_whitelisted_also_when_read_back_from_the_catalog() -> None:
    from fraud_pipelines.feature_store.query import Condition, FeatureRef

    amount = FeatureRef("tx", 1, "amount")
    tampered = (amount > 1).to_dict() | {"op": "> 0) OR (1 = 1"}
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        Condition.from_dict(tampered)
    with pytest.raises(InvalidInputError, match="needs one feature"):
        Condition(op="=", value=1)
    with pytest.raises(InvalidInputError, match="parts"):
        Condition(op="and", parts=(amount > 1,))
    with pytest.raises(InvalidInputError, match="list of values"):
        amount.isin("Cash")  # a string is a sequence of letters, not of categories


def test_isin_an_empty_list_selects_nothing_and_its_negation_keeps_known_values(store: FeatureStore,
                                                                              fraud: dict) -> None:
    category = fraud["groups"]["tx"]["category"]
    nothing = store.get_or_create_feature_view("none", query=fraud["query"].filter(category.isin([])),
                                               labels=["is_fraud"])
    assert len(nothing.training_data()[0]) == 0
    everything = store.get_or_create_feature_view("all", query=fraud["query"].filter(~category.isin([])),
                                                  labels=["is_fraud"])
    assert fraud["tx"]["category"].notna().all()  # so keeping every known value keeps every row
    assert len(everything.training_data()[0]) == len(fraud["view"].training_data()[0]) > 0
