"""Files dropped into the inbox: the sensor asks once per file, a good file replaces exactly its
days in one commit and is recorded as the raw asset's partitions, a bad file moves aside with a
report and nothing is written, and the failure's reason lands on the run."""

from __future__ import annotations

import os
import time
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator
from fraud_pipelines.automation import inbox
from fraud_pipelines.automation.jobs import inbox_ingest_job
from fraud_pipelines.automation.run_sensors import FAILURE_TAG, failure_reason_sensor, inbox_refresh_sensor
from fraud_pipelines.automation.sensors import INBOX_SETTLE_SECONDS, inbox_sensor
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.resources import StorageResource

DAY = date(2025, 1, 3)
GENERATOR = SyntheticGenerator(SyntheticConfig(n_cards=200, transactions_per_day=300, n_days=10, seed=3))


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """A landed file's rows as the raw table keeps them: the card number replaced by its token."""
    return frame.assign(cc_num=tokenizer().tokens(frame["cc_num"])).reset_index(drop=True)


def drop(frame: pd.DataFrame, relative: str, *, settled: bool = True) -> None:
    """Write a file into the inbox as a user would (then rename), aged past the settle time."""
    path = inbox.inbox_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name("." + path.name)
    if path.suffix == ".csv":
        frame.to_csv(partial, index=False)
    else:
        frame.to_parquet(partial, index=False)
    partial.rename(path)
    if settled:
        past = time.time() - INBOX_SETTLE_SECONDS - 1
        os.utime(path, (past, past))


def evaluate(instance, cursor=None):
    return inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def ingest(instance, request):
    return inbox_ingest_job.execute_in_process(run_config=request.run_config, tags=request.tags, instance=instance,
                                              resources={"storage": StorageResource()}, raise_on_error=False)


def test_a_good_file_is_requested_once_and_replaces_its_day(instance):
    transactions = GENERATOR.day(DAY).transactions
    drop(transactions, "transactions/2025-01-03.csv")
    drop(transactions.head(3), "transactions/.still-copying.csv")  # hidden names are never read
    drop(transactions.head(3), "transactions_late.csv", settled=False)  # too fresh: may still be copying

    first = evaluate(instance)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_config["ops"]["ingest_inbox_file"]["config"]["path"] == "transactions/2025-01-03.csv"
    assert "transactions/2025-01-03.csv arrived" in request.tags["fraud/reason"]
    again = evaluate(instance, first.cursor)  # nothing changed: no duplicate request
    assert again.run_requests == [] and "already requested" in again.skip_message

    result = ingest(instance, request)
    assert result.success
    stored = StorageResource().raw_table("transactions").read()
    pd.testing.assert_frame_equal(stored, as_stored(transactions), check_dtype=False)
    assert instance.get_materialized_partitions(dg.AssetKey("raw_transactions")) == {"2025-01-03"}
    assert (inbox.inbox_dir() / "processed" / "transactions" / "2025-01-03.csv").exists()
    assert not (inbox.inbox_dir() / "transactions" / "2025-01-03.csv").exists()

    # The refresh after it rebuilds that day's features (labels-only files rebuild labels only).
    context = dg.build_run_status_sensor_context(
        sensor_name="inbox_refresh_sensor", dagster_event=result.get_run_success_event(),
        dagster_instance=instance, dagster_run=result.dagster_run)
    refresh = inbox_refresh_sensor(context)
    assert refresh.partition_key == "2025-01-03" and refresh.asset_selection is None
    assert refresh.run_key == f"refresh:{result.run_id}"


def test_a_labels_file_refreshes_the_labels_feature_group(instance):
    labels = GENERATOR.day(DAY).fraud_labels
    StorageResource().raw_table("transactions").replace_days(as_stored(GENERATOR.day(DAY).transactions), [DAY])
    drop(labels, "fraud_labels_2025-01-03.parquet")
    request = evaluate(instance).run_requests[0]
    result = ingest(instance, request)
    assert result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="inbox_refresh_sensor", dagster_event=result.get_run_success_event(),
        dagster_instance=instance, dagster_run=result.dagster_run)
    refresh = inbox_refresh_sensor(context)
    assert refresh.asset_selection == [dg.AssetKey("fraud_labels_fg")]
    rebuilt = dg.materialize(FEATURE_ASSETS, selection=refresh.asset_selection, partition_key=refresh.partition_key,
                             instance=instance, resources={"storage": StorageResource()})
    assert rebuilt.success
    from fraud_pipelines.features import groups

    stored = groups.FRAUD_LABELS.get_or_create(StorageResource().feature_store()).read()
    assert sorted(stored["tid"]) == sorted(labels["tid"])


@pytest.mark.parametrize("problem, expected", [
    ("mistyped", "column 'amount': 1 value(s) are not numbers"),
    ("negative", "amount"),
    ("unknown_table", "cannot tell the table"),
])
def test_a_bad_file_is_moved_aside_and_nothing_is_written(instance, problem, expected):
    table = StorageResource().raw_table("transactions")
    good = GENERATOR.day(DAY).transactions
    table.replace_days(as_stored(good), [DAY])
    version = table.version()
    bad, name = good.copy(), "transactions/2025-01-03.csv"
    if problem == "mistyped":
        bad["amount"] = bad["amount"].astype(object)
        bad.loc[5, "amount"] = "twelve"
    elif problem == "negative":
        bad.loc[7, "amount"] = -4.0  # the GE suite refuses it; the day already stored must survive
    else:
        name = "charges.csv"
    drop(bad, name)

    request = evaluate(instance).run_requests[0]
    result = ingest(instance, request)
    assert not result.success
    assert table.version() == version  # no commit
    pd.testing.assert_frame_equal(table.read(), as_stored(good), check_dtype=False)
    table_folder = "transactions" if problem != "unknown_table" else ""
    rejected = inbox.inbox_dir() / "rejected" / table_folder / os.path.basename(name)
    report = rejected.with_name(rejected.name + ".error.txt")
    assert rejected.exists() and expected in report.read_text() and "Nothing was written" in report.read_text()

    failure = result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(
        sensor_name="failure_reason_sensor", dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run).for_run_failure()
    failure_reason_sensor(context)
    reason = instance.get_run_by_id(result.run_id).tags[FAILURE_TAG]
    assert reason.startswith("step ingest_inbox_file failed: rejected") and expected in reason


def test_days_outside_the_partitions_are_refused():
    drop(GENERATOR.day(DAY).transactions, "transactions/2025-01-03.csv")
    path = inbox.inbox_dir() / "transactions" / "2025-01-03.csv"
    with pytest.raises(inbox.InboxRejected, match="not finished yet"):
        inbox.ingest_file(path, inbox.inbox_dir(), StorageResource().raw_table, today=DAY)
    assert not StorageResource().raw_table("transactions").exists()
    moved = inbox.inbox_dir() / "rejected" / "transactions" / "2025-01-03.csv"
    moved.rename(path)
    written = inbox.ingest_file(path, inbox.inbox_dir(), StorageResource().raw_table, today=date(2025, 1, 4))
    assert written[0].days == [DAY] and written[0].rows > 0


def test_a_value_that_does_not_fit_the_stored_type_is_named():
    StorageResource().raw_table("transactions").replace_days(as_stored(GENERATOR.day(DAY).transactions), [DAY])
    labels = GENERATOR.day(DAY).fraud_labels.astype({"is_fraud": "int64"})
    labels.loc[4, "is_fraud"] = 300  # the table stores is_fraud as int8
    drop(labels, "fraud_labels/2025-01-03.parquet")
    with pytest.raises(inbox.InboxRejected, match="column 'is_fraud'.* do not fit int8"):
        inbox.ingest_file(inbox.inbox_dir() / "fraud_labels" / "2025-01-03.parquet", inbox.inbox_dir(),
                          StorageResource().raw_table)


def test_a_transactions_file_carrying_labels_writes_both_tables(tmp_path, monkeypatch):
    contract = tmp_path / "contract.yaml"
    contract.write_text("tables:\n  fraud_labels:\n    from_transactions: {column: fraud, label_delay: 2d}\n")
    monkeypatch.setenv("FRAUD_CONTRACT", str(contract))
    day = GENERATOR.day(DAY)
    charges = day.transactions.merge(day.fraud_labels[["tid", "is_fraud"]], on="tid").rename(
        columns={"is_fraud": "fraud"})
    drop(charges, "transactions/2025-01-03.csv")
    written = inbox.ingest_file(inbox.inbox_dir() / "transactions" / "2025-01-03.csv", inbox.inbox_dir(),
                                StorageResource().raw_table)
    assert [w.table for w in written] == ["transactions", "fraud_labels"]
    labels = StorageResource().raw_table("fraud_labels").read()
    assert sorted(labels["tid"]) == sorted(day.transactions["tid"])
    assert (labels["label_time"] - labels["datetime"] == pd.Timedelta("2d")).all()
    assert labels["is_fraud"].sum() == day.fraud_labels["is_fraud"].sum()
