"""Small raw frames that pass every raw expectation, for tests that break them one way at a time."""

from __future__ import annotations

import pandas as pd


def good_transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tid": pd.Series([1, 2, 3], dtype="int64"),
            "cc_num": pd.Series([4000_0000_0000_0001, 4000_0000_0000_0002, 4000_0000_0000_0001], dtype="int64"),
            "datetime": pd.to_datetime(
                ["2025-01-02 01:00", "2025-01-02 02:00", "2025-01-02 23:59"], utc=True
            ).as_unit("us"),
            "category": ["Grocery", "Clothing", "Other"],
            "amount": [12.5, 80.0, 3.2],
            "latitude": [59.3, 40.7, 59.3],
            "longitude": [18.0, -74.0, 18.1],
        }
    )


def good_labels() -> pd.DataFrame:
    tx = good_transactions()
    return pd.DataFrame(
        {
            "tid": tx["tid"],
            "cc_num": tx["cc_num"],
            "datetime": tx["datetime"],
            "is_fraud": pd.Series([0, 1, 0], dtype="int8"),
            "label_time": (tx["datetime"] + pd.Timedelta(days=3)).dt.as_unit("us"),
        }
    )


def good_profiles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cc_num": pd.Series([4000_0000_0000_0001, 4000_0000_0000_0001], dtype="int64"),
            "sex": ["F", "F"],
            "birthdate": pd.to_datetime(["1980-05-01", "1980-05-01"]).astype("datetime64[ms]"),
            "city": ["Stockholm", "Oslo"],
            "country": ["SE", "NO"],
            "event_time": pd.to_datetime(["2024-01-01", "2025-01-10"], utc=True).as_unit("us"),
        }
    )


def good_cards() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cc_num": pd.Series([4000_0000_0000_0001, 4000_0000_0000_0001], dtype="int64"),
            "provider": ["visa", "visa"],
            "expires": pd.to_datetime(["2026-01-31", "2029-01-31"]).astype("datetime64[ms]"),
            "event_time": pd.to_datetime(["2023-01-01", "2025-01-20"], utc=True).as_unit("us"),
        }
    )
