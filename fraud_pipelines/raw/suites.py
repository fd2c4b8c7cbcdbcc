"""Great Expectations suites for the raw tables, generated from the data contract (types, id types,
vocabularies) plus the business rules a raw table must meet before any feature is built from it.
The same suites run before every commit (`fraud_pipelines.raw.audit`) and as blocking checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from feature_logic import schema
from fraud_pipelines import contract as contracts

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


def _contract(given: contracts.DataContract | None) -> contracts.DataContract:
    return given if given is not None else contracts.active()


def _schema_expectations(table_schema: pa.Schema) -> list[Any]:
    import great_expectations as gx

    exp = gx.expectations
    out: list[Any] = [exp.ExpectTableColumnsToMatchOrderedList(column_list=list(table_schema.names))]
    for f in table_schema:
        out.append(exp.ExpectColumnTypeToBe(column=f.name, type_=_PANDAS_TYPES[f.type]))
    return out


def _window(column: str, start: datetime | None, end: datetime | None) -> list[Any]:
    import great_expectations as gx

    if start is None or end is None:
        return []
    return [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=column, min_value=start, max_value=end, strict_max=True
        )
    ]


def transactions_suite(start: datetime | None = None, end: datetime | None = None,
                       contract: contracts.DataContract | None = None) -> list[Any]:
    """Raw transactions: schema, keys, unique tid, sane amounts and coordinates, the contract's
    categories (unless open), timestamps inside the partition window [start, end)."""
    import great_expectations as gx

    exp = gx.expectations
    contract = _contract(contract)
    categories = contract.categories
    return [
        *_schema_expectations(contract.schema("transactions")),
        *(exp.ExpectColumnValuesToNotBeNull(column=c) for c in ("tid", "cc_num", "datetime", "amount")),
        exp.ExpectColumnValuesToBeUnique(column="tid"),
        exp.ExpectColumnValuesToBeBetween(column="cc_num", min_value=CARD_NUMBER_RANGE[0],
                                          max_value=CARD_NUMBER_RANGE[1]),
        exp.ExpectColumnValuesToBeBetween(
            column="amount", min_value=0, max_value=schema.MAX_AMOUNT, strict_min=True
        ),
        exp.ExpectColumnValuesToBeBetween(column="latitude", min_value=-90, max_value=90),
        exp.ExpectColumnValuesToBeBetween(column="longitude", min_value=-180, max_value=180),
        *([] if categories == "open" else [exp.ExpectColumnValuesToBeInSet(column="category", value_set=categories)]),
        *_window("datetime", start, end),
    ]


def fraud_labels_suite(start: datetime | None = None, end: datetime | None = None,
                       contract: contracts.DataContract | None = None) -> list[Any]:
    """Raw fraud labels: schema, keys, one label per tid, 0/1 labels, labels not known before
    their transaction, timestamps inside the partition window."""
    import great_expectations as gx

    exp = gx.expectations
    return [
        *_schema_expectations(_contract(contract).schema("fraud_labels")),
        *(exp.ExpectColumnValuesToNotBeNull(column=c) for c in schema.FRAUD_LABELS.names),
        exp.ExpectColumnValuesToBeUnique(column="tid"),
        exp.ExpectColumnValuesToBeInSet(column="is_fraud", value_set=[0, 1]),
        exp.ExpectColumnPairValuesAToBeGreaterThanB(column_A="label_time", column_B="datetime", or_equal=True),
        *_window("datetime", start, end),
    ]


def profiles_suite(contract: contracts.DataContract | None = None) -> list[Any]:
    """Owner history: schema, keys, one version per (card, event time), known sexes, sane birthdates."""
    import great_expectations as gx

    exp = gx.expectations
    return [
        *_schema_expectations(_contract(contract).schema("profiles")),
        *(exp.ExpectColumnValuesToNotBeNull(column=c) for c in ("cc_num", "event_time", "birthdate", "city")),
        exp.ExpectCompoundColumnsToBeUnique(column_list=["cc_num", "event_time"]),
        exp.ExpectColumnValuesToBeInSet(column="sex", value_set=["F", "M"]),
        exp.ExpectColumnValuesToBeBetween(
            column="birthdate", min_value=datetime(1900, 1, 1), max_value=datetime(2015, 1, 1)
        ),
    ]


def credit_cards_suite(contract: contracts.DataContract | None = None) -> list[Any]:
    """Card history: schema, keys, one version per (card, event time), the contract's providers."""
    import great_expectations as gx

    exp = gx.expectations
    providers = _contract(contract).providers
    return [
        *_schema_expectations(_contract(contract).schema("credit_cards")),
        *(exp.ExpectColumnValuesToNotBeNull(column=c) for c in schema.CREDIT_CARDS.names),
        exp.ExpectCompoundColumnsToBeUnique(column_list=["cc_num", "event_time"]),
        *([] if providers == "open" else [exp.ExpectColumnValuesToBeInSet(column="provider", value_set=providers)]),
        exp.ExpectColumnValuesToBeBetween(column="cc_num", min_value=CARD_NUMBER_RANGE[0],
                                          max_value=CARD_NUMBER_RANGE[1]),
    ]


def suite_for(table: str, start: datetime | None = None, end: datetime | None = None,
              contract: contracts.DataContract | None = None) -> list[Any]:
    """The suite of raw table `table` (daily tables take their partition window [start, end))."""
    if table == "transactions":
        return transactions_suite(start, end, contract)
    if table == "fraud_labels":
        return fraud_labels_suite(start, end, contract)
    if table == "profiles":
        return profiles_suite(contract)
    return credit_cards_suite(contract)
