"""Each raw expectation catches a frame crafted to break it, and names column and values."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from feature_logic import schema
from fraud_pipelines.feature_store.validation import validate
from fraud_pipelines.raw import suites
from tests.raw.samples import good_cards, good_labels, good_profiles, good_transactions

START = datetime(2025, 1, 2, tzinfo=timezone.utc)
END = datetime(2025, 1, 3, tzinfo=timezone.utc)


def test_good_frames_pass():
    assert validate(good_transactions(), suites.transactions_suite(START, END)).success
    assert validate(good_labels(), suites.fraud_labels_suite(START, END)).success
    assert validate(good_profiles(), suites.profiles_suite()).success
    assert validate(good_cards(), suites.credit_cards_suite()).success


def _set(column, row, value):
    def mutate(df):
        df = df.copy()
        if pd.isna(value) and df[column].dtype.kind in "iu":
            df[column] = df[column].astype("float64")
        df.loc[row, column] = value
        return df

    return mutate


BAD_TRANSACTIONS = [
    ("negative amount", _set("amount", 1, -5.0), "expect_column_values_to_be_between", "amount", -5.0),
    ("zero amount", _set("amount", 1, 0.0), "expect_column_values_to_be_between", "amount", 0.0),
    ("absurd amount", _set("amount", 0, 2e6), "expect_column_values_to_be_between", "amount", 2e6),
    ("latitude out of range", _set("latitude", 2, 123.0), "expect_column_values_to_be_between", "latitude", 123.0),
    ("longitude out of range", _set("longitude", 0, -200.0), "expect_column_values_to_be_between", "longitude", -200.0),
    ("unknown category", _set("category", 0, "Casino"), "expect_column_values_to_be_in_set", "category", "Casino"),
    ("duplicate tid", _set("tid", 2, 1), "expect_column_values_to_be_unique", "tid", 1),
    ("null amount", _set("amount", 0, None), "expect_column_values_to_not_be_null", "amount", None),
    ("short card number", _set("cc_num", 0, 1234), "expect_column_values_to_be_between", "cc_num", 1234),
    (
        "timestamp after the partition",
        _set("datetime", 2, pd.Timestamp("2025-01-03 00:00", tz="UTC")),
        "expect_column_values_to_be_between",
        "datetime",
        None,
    ),
    (
        "timestamp before the partition",
        _set("datetime", 0, pd.Timestamp("2025-01-01 23:00", tz="UTC")),
        "expect_column_values_to_be_between",
        "datetime",
        None,
    ),
    ("float tid", lambda df: df.assign(tid=df["tid"].astype("float64")), "expect_column_type_to_be", "tid", None),
    (
        "missing column",
        lambda df: df.drop(columns=["category"]),
        "expect_table_columns_to_match_ordered_list",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    "label, mutate, expectation, column, bad_value", BAD_TRANSACTIONS, ids=[b[0] for b in BAD_TRANSACTIONS]
)
def test_transactions_suite_catches(label, mutate, expectation, column, bad_value):
    report = validate(mutate(good_transactions()), suites.transactions_suite(START, END), id_columns=["tid"])
    assert not report.success
    hits = [f for f in report.failures if f.expectation == expectation and f.column == column]
    assert hits, report.summary()
    if bad_value is not None:
        assert any(s.get(column) == bad_value for s in hits[0].sample), hits[0].sample
        assert str(bad_value) in hits[0].message
    if column:
        assert f"column '{column}'" in hits[0].message


BAD_LABELS = [
    ("label before transaction", _set("label_time", 1, pd.Timestamp("2025-01-01", tz="UTC")),
     "expect_column_pair_values_a_to_be_greater_than_b", None),
    ("label not 0/1", _set("is_fraud", 0, 7), "expect_column_values_to_be_in_set", "is_fraud"),
    ("duplicate tid", _set("tid", 1, 1), "expect_column_values_to_be_unique", "tid"),
    ("null label time", _set("label_time", 0, pd.NaT), "expect_column_values_to_not_be_null", "label_time"),
]


@pytest.mark.parametrize("label, mutate, expectation, column", BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_labels_suite_catches(label, mutate, expectation, column):
    report = validate(mutate(good_labels()), suites.fraud_labels_suite(START, END), id_columns=["tid"])
    assert not report.success
    assert any(
        f.expectation == expectation and f.column == column and f.unexpected_count >= 1 for f in report.failures
    ), report.summary()


@pytest.mark.parametrize(
    "frame, suite, mutate, expectation, column",
    [
        (good_profiles, suites.profiles_suite, _set("sex", 0, "X"), "expect_column_values_to_be_in_set", "sex"),
        (
            good_profiles,
            suites.profiles_suite,
            _set("event_time", 1, pd.Timestamp("2024-01-01", tz="UTC")),
            "expect_compound_columns_to_be_unique",
            None,
        ),
        (
            good_profiles,
            suites.profiles_suite,
            _set("birthdate", 0, pd.Timestamp("1850-01-01")),
            "expect_column_values_to_be_between",
            "birthdate",
        ),
        (
            good_cards,
            suites.credit_cards_suite,
            _set("provider", 1, "diners"),
            "expect_column_values_to_be_in_set",
            "provider",
        ),
        (
            good_cards,
            suites.credit_cards_suite,
            _set("expires", 0, pd.NaT),
            "expect_column_values_to_not_be_null",
            "expires",
        ),
    ],
)
def test_history_suites_catch(frame, suite, mutate, expectation, column):
    report = validate(mutate(frame()), suite())
    assert not report.success
    assert any(f.expectation == expectation and f.column == column for f in report.failures), report.summary()


def test_schema_contract_matches_suites():
    """The suites check exactly the columns of the stored raw tables, in order: the landing shape without
    the columns dropped at the door (owners' names)."""
    for name, build in [("transactions", suites.transactions_suite), ("fraud_labels", suites.fraud_labels_suite),
                        ("profiles", suites.profiles_suite), ("credit_cards", suites.credit_cards_suite)]:
        first = build()[0]
        stored = [c for c in schema.RAW_SCHEMAS[name].names if c not in schema.LANDING_ONLY.get(name, ())]
        assert first.type == "expect_table_columns_to_match_ordered_list"
        assert first.to_config()["kwargs"]["column_list"] == stored
    assert date(2025, 1, 2) == START.date()


def test_chunked_validation_adds_up_failures_across_chunks():
    from datetime import timedelta

    from fraud_pipelines.raw.checks import CHUNK_DAYS, validate_window

    days = 2 * CHUNK_DAYS + 3
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    times = pd.date_range(start, periods=days * 4, freq="6h", tz="UTC").as_unit("us")
    frame = pd.DataFrame({
        "tid": pd.Series(range(len(times)), dtype="int64"),
        "cc_num": pd.Series([4000_0000_0000_0001] * len(times), dtype="int64"),
        "datetime": times, "category": "Grocery", "amount": 10.0, "latitude": 1.0, "longitude": 2.0,
    })
    frame.loc[[3, len(frame) - 2], "amount"] = -1.0  # one bad row in the first chunk, one in the last

    def read(s, e):
        return frame[(frame["datetime"] >= s) & (frame["datetime"] < e)].reset_index(drop=True)

    report = validate_window(read, suites.transactions_suite, start, start + timedelta(days=days), "s")
    assert report.rows == len(frame) and not report.success
    [failure] = report.failures
    assert failure.column == "amount" and failure.unexpected_count == 2
    assert [s["tid"] for s in failure.sample] == [3, len(frame) - 2]
    assert "failed for 2 rows" in failure.message
