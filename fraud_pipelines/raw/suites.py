"""Great Expectations suites for the raw tables, generated from the data contract (types, id types,
vocabularies) plus the business rules a raw table must meet before any feature is built from it.
The same suites run before every commit (`fraud_pipelines.raw.audit`) and as blocking checks.

Suites are plain `Expectation` specs in GE's configuration form (number bounds as floats, as GE holds
them): building and checking one imports no GE; GE runs only on what the fast checks cannot pass."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from feature_logic import schema
from fraud_pipelines import contract as contracts
from fraud_pipelines.feature_store.expectations import Expectation, expect

# Pandas dtype names that data read back from Delta carries for each Arrow type.
_PANDAS_TYPES = {
    pa.int64(): "int64",
    pa.int8(): "int8",
    pa.float64(): "float64",
    pa.string(): "object",
    schema.UTC_TIMESTAMP: "datetime64[us, UTC]",
    pa.date32(): "datetime64[ms]",
}


#: Card numbers (PANs) have 8 to 19 digits; as int64 they stay below 2^63.
CARD_NUMBER_RANGE = (10**7, 2**63 - 1)
_BETWEEN = "expect_column_values_to_be_between"
_NOT_NULL = "expect_column_values_to_not_be_null"
_IN_SET = "expect_column_values_to_be_in_set"


def _contract(given: contracts.DataContract | None) -> contracts.DataContract:
    return given if given is not None else contracts.active()


def _card_numbers() -> Expectation:
    return expect(_BETWEEN, column="cc_num", min_value=float(CARD_NUMBER_RANGE[0]),
                  max_value=float(CARD_NUMBER_RANGE[1]))


def _schema_expectations(table_schema: pa.Schema) -> list[Expectation]:
    out = [expect("expect_table_columns_to_match_ordered_list", column_list=list(table_schema.names))]
    for f in table_schema:
        out.append(expect("expect_column_type_to_be", column=f.name, type_=_PANDAS_TYPES[f.type]))
    return out


def _window(column: str, start: datetime | None, end: datetime | None) -> list[Expectation]:
    if start is None or end is None:
        return []
    return [expect(_BETWEEN, column=column, min_value=start, max_value=end, strict_max=True)]


def transactions_suite(start: datetime | None = None, end: datetime | None = None,
                       contract: contracts.DataContract | None = None) -> list[Expectation]:
    """Raw transactions: schema, keys, unique tid, sane amounts and coordinates, the contract's
    categories (unless open), timestamps inside the partition window [start, end)."""
    contract = _contract(contract)
    categories = contract.categories
    return [
        *_schema_expectations(contract.schema("transactions")),
        *(expect(_NOT_NULL, column=c) for c in ("tid", "cc_num", "datetime", "amount")),
        expect("expect_column_values_to_be_unique", column="tid"),
        _card_numbers(),
        expect(_BETWEEN, column="amount", min_value=0.0, max_value=float(schema.MAX_AMOUNT), strict_min=True),
        expect(_BETWEEN, column="latitude", min_value=-90.0, max_value=90.0),
        expect(_BETWEEN, column="longitude", min_value=-180.0, max_value=180.0),
        *([] if categories == "open" else [expect(_IN_SET, column="category", value_set=categories)]),
        *_window("datetime", start, end),
    ]


def fraud_labels_suite(start: datetime | None = None, end: datetime | None = None,
                       contract: contracts.DataContract | None = None) -> list[Expectation]:
    """Raw fraud labels: schema, keys, one label per tid, 0/1 labels, labels not known before
    their transaction, timestamps inside the partition window."""
    return [
        *_schema_expectations(_contract(contract).schema("fraud_labels")),
        *(expect(_NOT_NULL, column=c) for c in schema.FRAUD_LABELS.names),
        expect("expect_column_values_to_be_unique", column="tid"),
        expect(_IN_SET, column="is_fraud", value_set=[0, 1]),
        expect("expect_column_pair_values_a_to_be_greater_than_b", column_A="label_time", column_B="datetime",
               or_equal=True),
        *_window("datetime", start, end),
    ]


def profiles_suite(contract: contracts.DataContract | None = None) -> list[Expectation]:
    """Owner history: schema, keys, one version per (card, event time), known sexes, sane birthdates."""
    return [
        *_schema_expectations(_contract(contract).schema("profiles")),
        *(expect(_NOT_NULL, column=c) for c in ("cc_num", "event_time", "birthdate", "city")),
        expect("expect_compound_columns_to_be_unique", column_list=["cc_num", "event_time"]),
        expect(_IN_SET, column="sex", value_set=["F", "M"]),
        expect(_BETWEEN, column="birthdate", min_value=datetime(1900, 1, 1), max_value=datetime(2015, 1, 1)),
    ]


def credit_cards_suite(contract: contracts.DataContract | None = None) -> list[Expectation]:
    """Card history: schema, keys, one version per (card, event time), the contract's providers."""
    providers = _contract(contract).providers
    return [
        *_schema_expectations(_contract(contract).schema("credit_cards")),
        *(expect(_NOT_NULL, column=c) for c in schema.CREDIT_CARDS.names),
        expect("expect_compound_columns_to_be_unique", column_list=["cc_num", "event_time"]),
        *([] if providers == "open" else [expect(_IN_SET, column="provider", value_set=providers)]),
        _card_numbers(),
    ]


def suite_for(table: str, start: datetime | None = None, end: datetime | None = None,
              contract: contracts.DataContract | None = None) -> list[Expectation]:
    """The suite of raw table `table` (daily tables take their partition window [start, end))."""
    if table == "transactions":
        return transactions_suite(start, end, contract)
    if table == "fraud_labels":
        return fraud_labels_suite(start, end, contract)
    if table == "profiles":
        return profiles_suite(contract)
    return credit_cards_suite(contract)
