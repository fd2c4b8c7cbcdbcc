"""Great Expectations suites on insert: "strict" refuses the whole batch, "always" writes and reports."""

from __future__ import annotations

import great_expectations as gx
import pytest

from fraud_pipelines.feature_store import FeatureStore
from fraud_pipelines.feature_store.validation import ValidationError

from .conftest import transactions

SUITE = [
    gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=1000),
    gx.expectations.ExpectColumnValuesToBeInSet(column="category", value_set=["Grocery", "Travel", "Cash"]),
]


def _bad_batch():
    df = transactions(1)
    df.loc[[3, 7], "amount"] = [-5.0, 99_999.0]
    return df


def test_strict_policy_writes_nothing_and_names_the_failures(store: FeatureStore) -> None:
    fg = store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime",
                                           online_enabled=True, expectation_suite=SUITE, validation_policy="strict")
    assert fg.insert(transactions(0))["validation"]["success"] is True
    with pytest.raises(ValidationError) as caught:
        fg.insert(_bad_batch())
    message = str(caught.value)
    assert "nothing was written" in message and "amount" in message and "-5.0" in message
    assert caught.value.report.failures[0].unexpected_count == 2
    assert fg.delta_version() == 0 and len(fg.read()) == 40
    assert list(fg.commit_details()) == [0]
    bad_tids = _bad_batch().tid[[3, 7]].tolist()
    assert store.online_store.read(fg.online_table(), [(t,) for t in bad_tids], ["amount"]) == [None, None]


def test_always_policy_writes_and_reports(store: FeatureStore) -> None:
    gx_suite = gx.ExpectationSuite(name="tx", expectations=SUITE)
    fg = store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime",
                                           expectation_suite=gx_suite)
    metrics = fg.insert(_bad_batch())
    assert metrics["validation"]["success"] is False and metrics["rows"] == 40
    assert metrics["validation"]["failures"][0]["column"] == "amount"
    # the suite is kept in the catalog: another handle validates the same way
    again = store.get_feature_group("transactions").insert(_bad_batch())
    assert again["validation"]["success"] is False


def test_a_stored_suite_stays_when_the_group_is_opened_without_one(store: FeatureStore) -> None:
    store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime",
                                      expectation_suite=SUITE, validation_policy="strict").insert(transactions(0))
    reopened = store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime")
    with pytest.raises(ValidationError):
        reopened.insert(_bad_batch())
    relaxed = store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime",
                                                validation_policy="always")
    assert relaxed.insert(_bad_batch())["validation"]["success"] is False
