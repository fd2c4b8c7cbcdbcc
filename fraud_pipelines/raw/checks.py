"""Blocking Great Expectations checks on the raw tables: bad data stops here, before features,
models or scores read it. A failure names the column, the expectation and sample bad values.
The daily tables' checks give each day its own result (`fraud_pipelines.day_checks`)."""


from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from fraud_pipelines.day_checks import day_check_evaluations, report_metadata
from fraud_pipelines.feature_store.validation import ValidationReport, merge_reports, validate
from fraud_pipelines.partitions import DAILY
from fraud_pipelines.raw import suites
from fraud_pipelines.raw.assets import raw_credit_cards, raw_fraud_labels, raw_profiles, raw_transactions
from fraud_pipelines.resources import StorageResource

TRANSACTIONS_SUITE = "raw_transactions_suite"
FRAUD_LABELS_SUITE = "raw_fraud_labels_suite"
PROFILES_SUITE = "raw_profiles_suite"
CREDIT_CARDS_SUITE = "raw_credit_cards_suite"


def check_result(report: ValidationReport) -> dg.AssetCheckResult:
    """A Dagster check result whose description and metadata carry the GE report."""
    return dg.AssetCheckResult(
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary(),
        metadata=report_metadata(report),
    )


#: Days validated at once: a long backfill's check never holds the whole range in memory.
CHUNK_DAYS = 10


def validate_window(read: Callable[[datetime, datetime], pd.DataFrame],
                    suite: Callable[[datetime, datetime], list[Any]],
                    start: datetime, end: datetime, name: str) -> ValidationReport:
    """Validate [start, end) chunk by chunk (each chunk with its own time-window expectation) and merge."""
    reports = []
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(chunk_start + timedelta(days=CHUNK_DAYS), end)
        reports.append(validate(read(chunk_start, chunk_end), suite(chunk_start, chunk_end), suite_name=name,
                                id_columns=["tid"]))
        chunk_start = chunk_end
    return merge_reports(reports)


@dg.asset_check(asset=raw_transactions, name=TRANSACTIONS_SUITE, blocking=True, partitions_def=DAILY,
                description="Schema, non-null keys, unique tid, 0 < amount <= ceiling, coordinates in range, "
                            "known categories, timestamps inside the partition.")
def raw_transactions_suite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Iterator[Any]:
    yield from day_check_evaluations(context, storage.raw_table("transactions").read, suites.transactions_suite)


@dg.asset_check(asset=raw_fraud_labels, name=FRAUD_LABELS_SUITE, blocking=True, partitions_def=DAILY,
                description="Schema, non-null columns, one label per tid, is_fraud in {0,1}, label_time >= "
                            "datetime, timestamps inside the partition.")
def raw_fraud_labels_suite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Iterator[Any]:
    yield from day_check_evaluations(context, storage.raw_table("fraud_labels").read, suites.fraud_labels_suite)


@dg.asset_check(asset=raw_profiles, name=PROFILES_SUITE, blocking=True,
                description="Schema, non-null keys, one version per (cc_num, event_time), sex in {F,M}, "
                            "sane birthdates.")
def raw_profiles_suite(storage: StorageResource) -> dg.AssetCheckResult:
    frame = storage.raw_table("profiles").read()
    return check_result(validate(frame, suites.profiles_suite(), suite_name=PROFILES_SUITE, id_columns=["cc_num"]))


@dg.asset_check(asset=raw_credit_cards, name=CREDIT_CARDS_SUITE, blocking=True,
                description="Schema, non-null columns, one version per (cc_num, event_time), known providers.")
def raw_credit_cards_suite(storage: StorageResource) -> dg.AssetCheckResult:
    frame = storage.raw_table("credit_cards").read()
    return check_result(validate(frame, suites.credit_cards_suite(), suite_name=CREDIT_CARDS_SUITE,
                                 id_columns=["cc_num"]))


RAW_CHECKS = [raw_transactions_suite, raw_fraud_labels_suite, raw_profiles_suite, raw_credit_cards_suite]
