"""Great Expectations suites for the fraud feature groups: what must hold of every row written.

Plain `Expectation` specs in GE's configuration form (number bounds as floats, as GE holds them), so
a passing batch is judged by the fast checks without importing GE."""

from __future__ import annotations

from datetime import datetime

from fraud_pipelines.feature_store.expectations import Expectation, expect

_BETWEEN = "expect_column_values_to_be_between"
_NOT_NULL = "expect_column_values_to_not_be_null"


def _common(start: datetime | None, end: datetime | None) -> list[Expectation]:
    out = [
        *(expect(_NOT_NULL, column=c) for c in ("tid", "cc_num", "datetime")),
        expect("expect_column_values_to_be_unique", column="tid"),
    ]
    if start is not None and end is not None:
        out.append(expect(_BETWEEN, column="datetime", min_value=start, max_value=end, strict_max=True))
    return out


def transactions_suite(start: datetime | None = None, end: datetime | None = None) -> list[Expectation]:
    """Per-charge features: keys, positive amounts, plausible ages, non-negative deltas."""
    return [
        *_common(start, end),
        expect(_BETWEEN, column="amount", min_value=0.0, strict_min=True),
        expect(_BETWEEN, column="age_at_transaction", min_value=10.0, max_value=120.0),
        expect(_NOT_NULL, column="loc_delta_t_minus_1"),
        expect(_BETWEEN, column="loc_delta_t_minus_1", min_value=0.0, max_value=20_100.0),
        expect(_BETWEEN, column="time_delta_t_minus_1", min_value=0.0),
        expect("expect_column_values_to_be_in_set", column="sex", value_set=["F", "M"]),
    ]


def window_suite(start: datetime | None = None, end: datetime | None = None) -> list[Expectation]:
    """4-hour aggregates: at least the charge itself in each window, non-negative moments."""
    return [
        *_common(start, end),
        *(expect(_NOT_NULL, column=c)
          for c in ("trans_volume_mavg", "trans_volume_mstd", "trans_freq", "loc_delta_mavg")),
        expect(_BETWEEN, column="trans_freq", min_value=1.0),
        expect(_BETWEEN, column="trans_volume_mavg", min_value=0.0, strict_min=True),
        expect(_BETWEEN, column="trans_volume_mstd", min_value=0.0),
        expect(_BETWEEN, column="loc_delta_mavg", min_value=0.0),
    ]


def labels_suite(start: datetime | None = None, end: datetime | None = None) -> list[Expectation]:
    """Labels: 0/1 and known no earlier than their charge."""
    return [
        *_common(start, end),
        expect("expect_column_values_to_be_in_set", column="is_fraud", value_set=[0, 1]),
        expect("expect_column_pair_values_a_to_be_greater_than_b", column_A="label_time", column_B="datetime",
               or_equal=True),
    ]
