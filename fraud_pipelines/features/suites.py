"""Great Expectations suites for the fraud feature groups: what must hold of every row written."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _common(start: datetime | None, end: datetime | None) -> list[Any]:
    import great_expectations as gx

    exp = gx.expectations
    out: list[Any] = [
        *(exp.ExpectColumnValuesToNotBeNull(column=c) for c in ("tid", "cc_num", "datetime")),
        exp.ExpectColumnValuesToBeUnique(column="tid"),
    ]
    if start is not None and end is not None:
        out.append(exp.ExpectColumnValuesToBeBetween(column="datetime", min_value=start, max_value=end,
                                                     strict_max=True))
    return out


def transactions_suite(start: datetime | None = None, end: datetime | None = None) -> list[Any]:
    """Per-charge features: keys, positive amounts, plausible ages, non-negative deltas."""
    import great_expectations as gx

    exp = gx.expectations
    return [
        *_common(start, end),
        exp.ExpectColumnValuesToBeBetween(column="amount", min_value=0, strict_min=True),
        exp.ExpectColumnValuesToBeBetween(column="age_at_transaction", min_value=10, max_value=120),
        exp.ExpectColumnValuesToNotBeNull(column="loc_delta_t_minus_1"),
        exp.ExpectColumnValuesToBeBetween(column="loc_delta_t_minus_1", min_value=0, max_value=20_100),
        exp.ExpectColumnValuesToBeBetween(column="time_delta_t_minus_1", min_value=0),
        exp.ExpectColumnValuesToBeInSet(column="sex", value_set=["F", "M"]),
    ]


def window_suite(start: datetime | None = None, end: datetime | None = None) -> list[Any]:
    """4-hour aggregates: at least the charge itself in each window, non-negative moments."""
    import great_expectations as gx

    exp = gx.expectations
    return [
        *_common(start, end),
        *(exp.ExpectColumnValuesToNotBeNull(column=c)
          for c in ("trans_volume_mavg", "trans_volume_mstd", "trans_freq", "loc_delta_mavg")),
        exp.ExpectColumnValuesToBeBetween(column="trans_freq", min_value=1),
        exp.ExpectColumnValuesToBeBetween(column="trans_volume_mavg", min_value=0, strict_min=True),
        exp.ExpectColumnValuesToBeBetween(column="trans_volume_mstd", min_value=0),
        exp.ExpectColumnValuesToBeBetween(column="loc_delta_mavg", min_value=0),
    ]


def labels_suite(start: datetime | None = None, end: datetime | None = None) -> list[Any]:
    """Labels: 0/1 and known no earlier than their charge."""
    import great_expectations as gx

    exp = gx.expectations
    return [
        *_common(start, end),
        exp.ExpectColumnValuesToBeInSet(column="is_fraud", value_set=[0, 1]),
        exp.ExpectColumnPairValuesAToBeGreaterThanB(column_A="label_time", column_B="datetime", or_equal=True),
    ]
