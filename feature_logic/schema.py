"""The raw tables' contract: column names and Arrow types shared by the generator, the raw
assets, the quality suites and the feature logic."""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

#: Merchant categories a transaction may carry; anything else is refused by the raw checks.
CATEGORIES: tuple[str, ...] = (
    "Grocery",
    "Restaurant/Cafeteria",
    "Health/Beauty",
    "Domestic Transport",
    "Clothing",
    "Electronics",
    "Sports/Outdoors",
    "Holiday/Travel",
    "Cash Withdrawal",
    "Other",
)

#: Card networks a card may belong to.
PROVIDERS: tuple[str, ...] = ("visa", "mastercard")

#: A charge above this is treated as a data error, not as a purchase.
MAX_AMOUNT = 50_000.0

TRANSACTIONS = pa.schema(
    [
        ("tid", pa.int64()),  # unique, stable across re-generation
        ("cc_num", pa.int64()),  # card number as it lands (16 digits here); stored as its keyed token
        ("datetime", UTC_TIMESTAMP),  # event time of the charge
        ("category", pa.string()),
        ("amount", pa.float64()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
    ]
)

PROFILES = pa.schema(
    [
        ("cc_num", pa.int64()),
        ("name", pa.string()),
        ("sex", pa.string()),  # "F" or "M"
        ("birthdate", pa.date32()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("event_time", UTC_TIMESTAMP),  # when this version of the owner's profile became true
    ]
)

CREDIT_CARDS = pa.schema(
    [
        ("cc_num", pa.int64()),
        ("provider", pa.string()),
        ("expires", pa.date32()),  # last valid day of the card
        ("event_time", UTC_TIMESTAMP),  # when this card version (issue or reissue) became valid
    ]
)

FRAUD_LABELS = pa.schema(
    [
        ("tid", pa.int64()),
        ("cc_num", pa.int64()),
        ("datetime", UTC_TIMESTAMP),  # the transaction's event time
        ("is_fraud", pa.int8()),  # 1 fraud, 0 genuine
        ("label_time", UTC_TIMESTAMP),  # when the label became known (after `datetime`)
    ]
)

#: Columns the raw files (and the generator) may carry that are never stored: owners' names identify a
#: person and no feature needs them, so ingestion drops them at the door.
LANDING_ONLY: dict[str, tuple[str, ...]] = {"profiles": ("name",)}

#: The raw tables in their landing shape (what files and the generator hand over): `cc_num` is the card
#: number here; the stored tables hold its keyed token instead, and none of the LANDING_ONLY columns.
RAW_SCHEMAS: dict[str, pa.Schema] = {
    "transactions": TRANSACTIONS,
    "profiles": PROFILES,
    "credit_cards": CREDIT_CARDS,
    "fraud_labels": FRAUD_LABELS,
}
