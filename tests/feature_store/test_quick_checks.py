"""The vectorized pass verdicts never pass what Great Expectations fails, and take the project's suites
on good rows without a GE run. GE runs beside them on the same specs (`Expectation.to_ge`)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.feature_store import validation
from fraud_pipelines.feature_store.expectations import Expectation, expect
from fraud_pipelines.feature_store.quick_checks import certainly_passes
from fraud_pipelines.features import suites as feature_suites
from fraud_pipelines.raw import suites as raw_suites
from tests.raw.samples import good_cards, good_labels, good_profiles, good_transactions

START = datetime(2025, 1, 2, tzinfo=timezone.utc)
END = datetime(2025, 1, 3, tzinfo=timezone.utc)
BETWEEN = "expect_column_values_to_be_between"
A_OVER_B = "expect_column_pair_values_a_to_be_greater_than_b"


def _ge_verdicts(df: pd.DataFrame, items: list[Expectation]) -> list[bool]:
    """GE's own pass/fail for each spec, run as `validate` runs it (GE orders its results its own way)."""
    ge = [e.to_ge() for e in items]
    result = validation._run(df, ge, "s", {"result_format": "BOOLEAN_ONLY"})
    verdicts = {_key(r.expectation_config): r.success for r in result.results}
    return [verdicts[_key(e.configuration)] for e in ge]


def _key(config) -> tuple[str, str]:
    return config.type, repr(sorted((k, v) for k, v in config.kwargs.items() if k != "batch_id"))


def _times(hours) -> pd.Series:
    return (pd.Timestamp("2025-01-02", tz="UTC") + pd.to_timedelta(hours, unit="h")).as_unit("us")


def good_features() -> pd.DataFrame:
    return pd.DataFrame({
        "tid": ["a", "b", "c"], "cc_num": pd.Series([7, 8, 7], dtype="int64"), "datetime": _times([1, 2, 3]),
        "amount": [1.0, 2.0, 3.0], "age_at_transaction": [30.5, 40.0, 30.5], "loc_delta_t_minus_1": [0.0, 5.0, 1.0],
        "time_delta_t_minus_1": [np.nan, 1.0, 2.0], "sex": ["F", None, "M"],
        "is_fraud": pd.Series([0, 1, 0], dtype="int8"),
        "label_time": _times([2, 2, 3]), "trans_volume_mavg": [1.0, 2.0, 2.5], "trans_volume_mstd": [0.0, 0.0, 0.7],
        "trans_freq": pd.Series([1, 1, 2], dtype="int32"), "loc_delta_mavg": [0.0, 5.0, 3.0],
    })


SUITES = [
    (good_transactions, lambda: raw_suites.transactions_suite(START, END)),
    (good_labels, lambda: raw_suites.fraud_labels_suite(START, END)),
    (good_profiles, raw_suites.profiles_suite),
    (good_cards, raw_suites.credit_cards_suite),
    (good_features, lambda: feature_suites.transactions_suite(START, END)),
    (good_features, lambda: feature_suites.window_suite(START, END)),
    (good_features, lambda: feature_suites.labels_suite(START, END)),
]


@pytest.mark.parametrize("frame, suite", SUITES)
def test_good_rows_pass_without_ge(frame, suite):
    df, items = frame(), suite()
    if "category" not in df:  # the feature suites name only some of the frame's columns
        items = [e for e in items if e.type != "expect_table_columns_to_match_ordered_list"]
    assert [certainly_passes(df, e) for e in items] == [True] * len(items)
    assert _ge_verdicts(df, items) == [True] * len(items)


def _mutations() -> list[tuple[str, pd.DataFrame]]:
    base = good_features()
    out = [("good", base)]

    def put(column, row, value, dtype=None):
        df = base.copy()
        if dtype is not None:
            df[column] = df[column].astype(dtype)
        df.loc[row, column] = value
        return df

    out += [
        ("null float", put("amount", 1, np.nan)), ("null time", put("datetime", 0, pd.NaT)),
        ("null string", put("tid", 2, None)), ("duplicate string", put("tid", 2, "a")),
        ("duplicate int", put("cc_num", 1, 7)),
        ("duplicate compound key", put("datetime", 2, _times([1])[0])),
        ("null in a compound key", put("cc_num", 0, None, "float64")), ("zero amount", put("amount", 0, 0.0)),
        ("negative", put("loc_delta_t_minus_1", 2, -1e-300)), ("infinite", put("amount", 2, np.inf)),
        ("at the upper bound", put("loc_delta_t_minus_1", 0, 20_100.0)),
        ("above the upper bound", put("loc_delta_t_minus_1", 0, 20_100.000001)),
        ("at the window end", put("datetime", 2, pd.Timestamp(END))),
        ("before the window", put("datetime", 2, pd.Timestamp(START) - pd.Timedelta(microseconds=1))),
        ("at the window start", put("datetime", 0, pd.Timestamp(START))),
        ("label before charge", put("label_time", 2, _times([2.5])[0])),
        ("label time null", put("label_time", 0, pd.NaT)), ("unknown sex", put("sex", 0, "X")),
        ("label 2", put("is_fraud", 0, 2)), ("int32 zero freq", put("trans_freq", 0, 0)),
        ("float32 column", base.assign(amount=base["amount"].astype("float32"))),
        ("object numbers", base.assign(amount=base["amount"].astype(object))),
        ("naive times", base.assign(datetime=base["datetime"].dt.tz_localize(None))),
        ("nanosecond times", base.assign(datetime=base["datetime"].dt.as_unit("ns"))),
        ("naive millisecond times", base.assign(datetime=base["datetime"].dt.tz_localize(None).dt.as_unit("ms"))),
        ("naive times at the window end", base.assign(datetime=base["datetime"].dt.tz_localize(None)).assign(
            datetime=lambda d: d["datetime"].where(d.index != 2, pd.Timestamp(END.replace(tzinfo=None))))),
        ("naive times before the window", base.assign(datetime=base["datetime"].dt.tz_localize(None)).assign(
            datetime=lambda d: d["datetime"].where(d.index != 0, pd.Timestamp("2025-01-01 23:59:59.999999")))),
        ("all null", base.assign(time_delta_t_minus_1=np.nan, sex=None)),
        ("no rows", base.iloc[:0]),
        ("missing column", base.drop(columns=["amount"])),
        ("column in another case", base.rename(columns={"amount": "Amount"})),
        ("both cases", base.assign(Amount=base["amount"])),
        ("uint8 labels", base.assign(is_fraud=base["is_fraud"].astype("uint8"))),
        ("float labels", base.assign(is_fraud=base["is_fraud"].astype("float64"))),
        ("bool labels", base.assign(is_fraud=base["is_fraud"].astype(bool))),
        ("label times in another unit", base.assign(label_time=base["label_time"].dt.as_unit("ms"))),
    ]
    return out


def _expectations() -> list[Expectation]:
    naive_start, naive_end = START.replace(tzinfo=None), END.replace(tzinfo=None)
    return [
        *feature_suites.transactions_suite(START, END), *feature_suites.window_suite(START, END),
        *feature_suites.labels_suite(START, END),
        expect("expect_table_columns_to_match_ordered_list", column_list=list(good_features().columns)),
        expect("expect_column_type_to_be", column="amount", type_="float64"),
        expect("expect_column_type_to_be", column="datetime", type_="datetime64[us, UTC]"),
        expect("expect_column_type_to_be", column="is_fraud", type_="int8"),
        expect("expect_column_type_to_be", column="tid", type_="object"),
        expect(BETWEEN, column="datetime", min_value=naive_start, max_value=naive_end),
        expect(BETWEEN, column="datetime", min_value=naive_start, max_value=naive_end, strict_max=True),
        expect(BETWEEN, column="datetime", max_value=naive_end, strict_max=True),
        expect(BETWEEN, column="datetime", min_value=START, max_value=END, strict_min=True, strict_max=True),
        expect(BETWEEN, column="amount", max_value=3.0, strict_max=True),
        expect(BETWEEN, column="amount", min_value=1.0, max_value=3.0),
        expect(BETWEEN, column="amount", min_value=0.0, max_value=10.0, mostly=0.5),
        expect(BETWEEN, column="cc_num", min_value=1e7, max_value=float(2**63 - 1)),
        expect(BETWEEN, column="cc_num", min_value=0.0, max_value=float(2**63 - 1)),
        expect(BETWEEN, column="is_fraud", min_value=0.0, max_value=1.0),
        expect(BETWEEN, column="trans_freq", min_value=1.0, max_value=2.0, strict_max=True),
        expect("expect_column_values_to_be_in_set", column="is_fraud", value_set=[0, 1]),
        expect("expect_column_values_to_be_in_set", column="tid", value_set=["a", "b", "c"]),
        expect("expect_column_values_to_be_unique", column="cc_num"),
        expect("expect_column_values_to_not_be_null", column="sex"),
        expect("expect_column_values_to_not_be_null", column="time_delta_t_minus_1"),
        expect(A_OVER_B, column_A="label_time", column_B="datetime"),
        expect(A_OVER_B, column_A="label_time", column_B="datetime", or_equal=True,
               ignore_row_if="either_value_is_missing"),
        expect(A_OVER_B, column_A="amount", column_B="loc_delta_t_minus_1"),
        expect("expect_compound_columns_to_be_unique", column_list=["cc_num", "datetime"]),
        expect("expect_compound_columns_to_be_unique", column_list=["cc_num", "datetime"],
               ignore_row_if="any_value_is_missing"),
        expect("expect_compound_columns_to_be_unique", column_list=["tid", "sex"], ignore_row_if="never"),
    ]


@pytest.mark.parametrize("name, df", _mutations(), ids=[m[0] for m in _mutations()])
def test_never_passes_what_ge_fails(name, df):
    items = _expectations()
    quick = [certainly_passes(df, e) for e in items]
    ge = _ge_verdicts(df, items)
    wrong = [e.to_config() for e, q, g in zip(items, quick, ge) if q and not g]
    assert not wrong, wrong
    if name == "good":  # on good rows the fast path decides everything GE passes, but nulls left to GE
        left = [e.to_config() for e, q, g in zip(items, quick, ge) if g and not q]
        assert left == [expect("expect_compound_columns_to_be_unique", column_list=["tid", "sex"],
                               ignore_row_if="never").to_config()], left


def test_validate_reports_the_same_failures():
    """Failures are GE's: the same expectation, column, count and sample as a GE run of the whole suite."""
    df = good_features()
    df.loc[0, "amount"], df.loc[2, "tid"] = -1.0, "a"
    items = feature_suites.transactions_suite(START, END)
    report = validation.validate(df, items, suite_name="s", id_columns=["tid"])
    assert not report.success and report.evaluated == len(items)
    detailed = validation._run(df, [e.to_ge() for e in items], "s", {
        "result_format": "SUMMARY", "partial_unexpected_count": 5, "unexpected_index_column_names": ["tid"]})
    expected = [validation._failure(r, ["tid"], 5) for r in detailed.results if not r.success]
    assert report.failures == expected and len(expected) == 2


def _project_specs() -> list[Expectation]:
    return [e for _, suite in SUITES for e in suite()] + raw_suites.transactions_suite()


@pytest.mark.parametrize("items", [_project_specs(), _expectations()], ids=["project suites", "differential"])
def test_specs_hold_what_ge_holds(items):
    """The fast checks read a spec's kwargs: they are exactly (values and types) what GE's own
    configuration holds for it, so both judge the same bounds."""
    for spec in items:
        ge = spec.to_ge().configuration
        given = spec.to_config()["kwargs"]
        assert ge.type == spec.type
        assert {k: (v, type(v)) for k, v in ge.kwargs.items()} == {k: (v, type(v)) for k, v in given.items()}, spec


def test_bounds_ge_would_convert_are_left_to_ge():
    """An integer bound is a float in GE's configuration: the fast check does not guess, GE decides."""
    df = good_features()
    as_ge_holds = expect(BETWEEN, column="amount", min_value=1.0, max_value=3.0)
    as_written = expect(BETWEEN, column="amount", min_value=1, max_value=3)
    assert certainly_passes(df, as_ge_holds) and not certainly_passes(df, as_written)
    assert validation.validate(df, [as_written]).success
