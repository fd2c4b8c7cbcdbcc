"""Online feature vectors: no training/serving skew, passed features, return types, errors."""

from __future__ import annotations

import math
from collections import defaultdict
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.feature_store import FeatureStore, InvalidInputError

from .conftest import build_fraud_like
from .test_feature_view import TRANSFORMS

PASSED = ["category", "amount"]  # transaction features arrive with the request


@pytest.fixture
def served(store: FeatureStore) -> dict:
    case = build_fraud_like(store)
    view = store.get_or_create_feature_view("fraud", query=case["query"], labels=["is_fraud"],
                                            transformation_functions=TRANSFORMS)
    version = view.create_training_data(end_time=pd.Timestamp("2024-03-03", tz="UTC"))
    view.init_batch_scoring(version)
    view.init_serving(version)
    case.update(view=view, version=version)
    return case


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_feature_vector_equals_the_last_batch_row_of_every_key(served: dict) -> None:
    view = served["view"]
    batch = view.get_batch_data(primary_key=True)  # over all time
    last = batch.groupby("cc_num").tail(1)
    raw = served["tx"].set_index("tid")
    columns = view.serving_columns()
    assert columns == [c for c in batch.columns if c not in ("tid", "cc_num")]
    checked = 0
    for row in last.itertuples(index=False):
        passed = raw.loc[row.tid, PASSED].to_dict()
        vector = view.get_feature_vector({"cc_num": row.cc_num}, passed_features=passed)
        expected = [getattr(row, c) for c in columns]
        assert all(_same(v, e) for v, e in zip(vector, expected)), (row.cc_num, vector, expected)
        checked += 1
    assert checked == served["tx"].cc_num.nunique() == 5
    entries = [{"cc_num": int(k)} for k in last.cc_num]
    passed = [raw.loc[t, PASSED].to_dict() for t in last.tid]
    many = view.get_feature_vectors(entries, passed_features=passed, return_type="pandas")
    pd.testing.assert_frame_equal(many, last[columns].reset_index(drop=True), check_dtype=False)


def test_return_types_and_unknown_keys(served: dict) -> None:
    view = served["view"]
    passed = {"category": "Cash", "amount": 12.0}
    as_list = view.get_feature_vector({"cc_num": 1}, passed_features=passed)
    as_dict = view.get_feature_vector({"cc_num": 1}, passed_features=passed, return_type="dict")
    frame = view.get_feature_vector({"cc_num": 1}, passed_features=passed, return_type="pandas")
    assert list(as_dict.values()) == as_list == frame.iloc[0].tolist()
    assert as_dict["category_Cash"] == 1 and as_dict["category_Travel"] == 0
    missing = view.get_feature_vector({"cc_num": 12345}, passed_features=passed, return_type="dict")
    assert math.isnan(missing["mean_amount"]) and missing["profile_city"] == -1 and missing["tx_count"] is None


def test_passed_features_override_and_missing_ones_are_named(served: dict) -> None:
    view = served["view"]
    base = {"category": "Grocery", "amount": 3.0}
    plain = view.get_feature_vector({"cc_num": 2}, passed_features=base, return_type="dict")
    forced = view.get_feature_vector({"cc_num": 2}, passed_features={**base, "tx_count": 999}, return_type="dict")
    assert forced["tx_count"] == 999 and plain["tx_count"] != 999
    with pytest.raises(InvalidInputError, match=r"\['category', 'amount'\] have no online source"):
        view.get_feature_vector({"cc_num": 2})
    with pytest.raises(InvalidInputError, match="lacks key"):
        view.get_feature_vector({"card": 2}, passed_features=base)
    with pytest.raises(InvalidInputError, match="not a feature"):
        view.get_feature_vector({"cc_num": 2}, passed_features={**base, "nope": 1})


def test_serving_needs_init_and_a_version_when_transforming(store: FeatureStore, served: dict) -> None:
    fresh = store.get_feature_view("fraud")
    with pytest.raises(InvalidInputError, match="init_serving"):
        fresh.get_feature_vector({"cc_num": 1})
    with pytest.raises(InvalidInputError, match="give the training dataset version"):
        fresh.init_serving()
    fresh.init_serving(served["version"])
    assert fresh.get_feature_vector({"cc_num": 1}, passed_features={"category": "Cash", "amount": 1.0})


def test_online_rows_follow_later_inserts(served: dict) -> None:
    view, aggs = served["view"], served["groups"]["aggs"]
    before = view.get_feature_vector(
        {"cc_num": 3}, passed_features={"category": "Cash", "amount": 1.0}, return_type="dict"
    )
    aggs.insert(pd.DataFrame({"cc_num": [3], "datetime": [pd.Timestamp("2024-04-01", tz="UTC")], "tx_count": [777],
                              "mean_amount": [1.0]}))
    after = view.get_feature_vector(
        {"cc_num": 3}, passed_features={"category": "Cash", "amount": 1.0}, return_type="dict"
    )
    assert before["tx_count"] != 777 and after["tx_count"] == 777


def test_batch_vectors_equal_single_vectors_entry_by_entry(served: dict) -> None:
    """The batch path (prepared reads, key comprehension, checked passed names, remembered category
    codes) gives what one vector at a time gives: repeated and unknown keys, different passed sets,
    unknown and missing categories."""
    view = served["view"]
    cards = sorted(int(k) for k in served["tx"].cc_num.unique())
    entries = [{"cc_num": k} for k in [cards[0], 99_999, *cards, cards[0], cards[2]]]
    categories = ["Cash", "Travel", "never seen", None, "Cash", "Grocery", "Travel", "Cash", "Travel"]
    passed = [{"category": c, "amount": float(i)} for i, c in enumerate(categories)]
    passed[3]["tx_count"] = 7  # another set of names
    for _ in range(2):  # the second round reads the remembered codes and checked names
        many = view.get_feature_vectors(entries, passed_features=passed)
        one_by_one = [view.get_feature_vector(e, passed_features=p) for e, p in zip(entries, passed)]
        assert len(many) == len(entries)
        for got, expected in zip(many, one_by_one):
            assert all(_same(g, e) for g, e in zip(got, expected)), (got, expected)
    assert many[3][view.serving_columns().index("tx_count")] == 7
    with pytest.raises(InvalidInputError, match="lacks key"):
        view.get_feature_vectors([{"cc_num": cards[0]}, {"card": 2}], passed_features=passed[:2])
    with pytest.raises(InvalidInputError, match=r"\['category', 'amount'\] have no online source"):
        view.get_feature_vectors([{"cc_num": cards[0]}])
    with pytest.raises(InvalidInputError, match="'nope' is not a feature"):
        view.get_feature_vectors([{"cc_num": cards[0]}], passed_features=[{**passed[0], "nope": 1}])


def test_batch_vectors_place_passed_names_given_in_any_order(served: dict) -> None:
    """Passed features are placed by name: entries naming the same features in another order (a
    client building each dict its own way) get what one vector at a time gives."""
    view = served["view"]
    cards = sorted(int(k) for k in served["tx"].cc_num.unique())
    entries = [{"cc_num": k} for k in cards[:4]]
    passed = [{"category": "Cash", "amount": 3.5}, {"amount": 9.0, "category": "Travel"},
              {"amount": 1.25, "category": None}, {"category": "never seen", "amount": 0.5}]
    many = view.get_feature_vectors(entries, passed_features=passed)
    for got, entry, p in zip(many, entries, passed):
        expected = view.get_feature_vector(entry, passed_features=p)
        assert all(_same(g, e) for g, e in zip(got, expected)), (got, expected)
    amount = view.serving_columns().index("amount")
    assert [row[amount] for row in many] == [view.get_feature_vector(e, passed_features=p)[amount]
                                             for e, p in zip(entries, passed)]
    # other mappings: read-only views, and defaultdicts that must not gain the names they lack
    proxies = [MappingProxyType(p) for p in passed]
    assert view.get_feature_vectors(entries, passed_features=proxies) == many
    lacking = [defaultdict(float, p) for p in passed]
    del lacking[2]["amount"]
    with pytest.raises(InvalidInputError, match=r"\['amount'\] have no online source"):
        view.get_feature_vectors(entries, passed_features=lacking)
    assert "amount" not in lacking[2]


@pytest.mark.parametrize("amounts, categories", [
    ([3, 2.5, None, math.nan, 10**18, -0.0, np.float64(2.5), False],
     ["Cash", None, "Travel", "never seen", "Grocery", np.str_("Cash"), "Travel", None]),
    ([True, "12.5", np.float32(1.5), pd.NA, np.int64(4), np.float64(7.25)],
     [1, "Cash", np.str_("Travel"), math.nan, pd.NA, b"x"]),
])
def test_batch_vectors_transform_whole_columns_as_single_vectors_do(served: dict, amounts, categories) -> None:
    """Columns transformed at once give the values, and the value types, of one vector at a time,
    for plain numbers and categories as well as for values only the value-by-value path handles
    (booleans, numeric strings, NumPy scalars, pd.NA, non-string categories)."""
    view = served["view"]
    cards = sorted(int(k) for k in served["tx"].cc_num.unique())
    entries = [{"cc_num": cards[i % len(cards)]} for i in range(len(amounts))]
    passed = [{"category": c, "amount": a} for c, a in zip(categories, amounts)]
    many = view.get_feature_vectors(entries, passed_features=passed)
    one_by_one = [view.get_feature_vector(e, passed_features=p) for e, p in zip(entries, passed)]
    assert len(many) == len(one_by_one) == len(amounts)
    for got, expected in zip(many, one_by_one):
        assert len(got) == len(expected) == len(view.serving_columns())
        assert all(_same(g, e) and type(g) is type(e) for g, e in zip(got, expected)), (got, expected)


def test_batch_vectors_refuse_a_bad_value_as_a_single_vector_does(served: dict) -> None:
    view = served["view"]
    card = int(served["tx"].cc_num.iloc[0])
    passed = [{"category": "Cash", "amount": 1.0}, {"category": "Cash", "amount": "not a number"}]
    with pytest.raises(ValueError) as single:
        view.get_feature_vector({"cc_num": card}, passed_features=passed[1])
    with pytest.raises(ValueError) as batch:
        view.get_feature_vectors([{"cc_num": card}] * 2, passed_features=passed)
    assert str(batch.value) == str(single.value)


def test_batch_vectors_for_entries_without_keys_whose_features_are_all_passed(served: dict) -> None:
    """An entry without the key, passing every feature its groups would give, is not looked up;
    the entries around it still get their own online rows."""
    view = served["view"]
    cards = sorted(int(k) for k in served["tx"].cc_num.unique())
    everything = view.get_feature_vector({"cc_num": cards[1]}, passed_features={"category": "Cash", "amount": 2.0},
                                         return_type="dict")
    raw = {name: everything.get(name) for name in view._serving().raw_features}
    raw.update(category="Travel", amount=3.0, profile_city=None)
    entries = [{"cc_num": cards[0]}, {}, {"cc_num": cards[2]}]
    passed = [{"category": "Cash", "amount": 1.0}, raw, {"category": "Grocery", "amount": 5.0}]
    many = view.get_feature_vectors(entries, passed_features=passed)
    one_by_one = [view.get_feature_vector(e, passed_features=p) for e, p in zip(entries, passed)]
    for got, expected in zip(many, one_by_one):
        assert all(_same(g, e) and type(g) is type(e) for g, e in zip(got, expected)), (got, expected)
    assert many[0] != many[2]


def test_groups_sharing_a_key_are_read_in_one_statement(served: dict) -> None:
    """Both online groups are keyed by cc_num: SQLite reads them with one SELECT (LEFT JOINs on the
    keys' VALUES, in key order), over several chunks of keys, a card only one group knows, unknown
    and repeated cards; the same vectors as one at a time."""
    view = served["view"]
    server = view._serving()
    assert [[server.sources[i].name for i in members] for members, _ in server._joined] == [
        ["card_aggs v1", "profiles v1"]]
    card = 77  # a profile, no aggregates
    served["groups"]["profiles"].insert(pd.DataFrame({
        "cc_num": [card], "event_time": [pd.Timestamp("2024-03-02", tz="UTC")], "city": ["Quito"], "age": [51]}))
    cards = [int(k) for k in served["tx"].cc_num.unique()] + [card, 99_999]
    rng = np.random.default_rng(4)
    entries = [{"cc_num": int(k)} for k in rng.choice(cards, 1_100)]  # three chunks of at most 500 keys
    passed = [{"category": "Cash", "amount": float(i)} for i in range(len(entries))]
    many = view.get_feature_vectors(entries, passed_features=passed)
    one_by_one = [view.get_feature_vector(e, passed_features=p) for e, p in zip(entries, passed)]
    assert all(_same(g, e) for got, expected in zip(many, one_by_one) for g, e in zip(got, expected))
    columns = view.serving_columns()
    row = many[[e["cc_num"] for e in entries].index(card)]
    assert row[columns.index("profile_age")] == 51 and row[columns.index("tx_count")] is None
