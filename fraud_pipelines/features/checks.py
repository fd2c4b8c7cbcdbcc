"""Blocking Great Expectations checks on the feature groups: a bad partition stops before any
feature view, model or score reads it."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from fraud_pipelines.day_checks import day_check_evaluations
from fraud_pipelines.features import groups, suites
from fraud_pipelines.features.assets import fraud_labels_fg, transactions_4h_aggs, transactions_fg
from fraud_pipelines.partitions import DAILY
from fraud_pipelines.resources import StorageResource

TRANSACTIONS_FG_SUITE = "transactions_fg_suite"
TRANSACTIONS_4H_AGGS_SUITE = "transactions_4h_aggs_suite"
FRAUD_LABELS_FG_SUITE = "fraud_labels_fg_suite"


def _validate_days(context, storage: StorageResource, spec: groups.GroupSpec, suite) -> Iterator[Any]:
    """One result per day of the window (see `fraud_pipelines.day_checks`)."""
    fg = spec.get_or_create(storage.feature_store())
    yield from day_check_evaluations(context, lambda s, e: fg.read(start_time=s, end_time=e), suite,
                                     time_column=spec.event_time)


@dg.asset_check(asset=transactions_fg, name=TRANSACTIONS_FG_SUITE, blocking=True, partitions_def=DAILY,
                description="Keys, unique tid, amount > 0, age 10-120, non-negative deltas, sex in {F,M}.")
def transactions_fg_suite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Iterator[Any]:
    yield from _validate_days(context, storage, groups.TRANSACTIONS, suites.transactions_suite)


@dg.asset_check(asset=transactions_4h_aggs, name=TRANSACTIONS_4H_AGGS_SUITE, blocking=True, partitions_def=DAILY,
                description="Keys, unique tid, trans_freq >= 1, positive mean amount, non-negative std and distance.")
def transactions_4h_aggs_suite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Iterator[Any]:
    yield from _validate_days(context, storage, groups.TRANSACTIONS_4H_AGGS, suites.window_suite)


@dg.asset_check(asset=fraud_labels_fg, name=FRAUD_LABELS_FG_SUITE, blocking=True, partitions_def=DAILY,
                description="Keys, unique tid, is_fraud in {0,1}, label_time >= datetime.")
def fraud_labels_fg_suite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Iterator[Any]:
    yield from _validate_days(context, storage, groups.FRAUD_LABELS, suites.labels_suite)


FEATURE_CHECKS = [transactions_fg_suite, transactions_4h_aggs_suite, fraud_labels_fg_suite]
