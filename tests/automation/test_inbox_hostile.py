"""The inbox against bad and hostile input, through real `inbox_ingest_job` runs on real Delta
tables: every refusal leaves every stored table as it was, materializes nothing, keeps the file in
`inbox/rejected/<table>/` with a bounded report, and never reads or moves anything outside the inbox."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from fraud_pipelines.automation import inbox
from fraud_pipelines.automation.jobs import inbox_ingest_job
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.resources import StorageResource
from tests.raw.hostile import CONTENT_CASES, DAYS, MESSAGE_LIMIT, Case, labels, transactions, write

SECRET = "PASSWORD=hunter2-do-not-leak"


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture()
def stored():
    """Three good days stored, as earlier runs would have left them."""
    for day in DAYS:
        StorageResource().raw_table("transactions").replace_days(transactions(day), [day])
        StorageResource().raw_table("fraud_labels").replace_days(labels(day), [day])
    return state()


def state() -> dict:
    out = {}
    for name in ("transactions", "fraud_labels"):
        table = StorageResource().raw_table(name)
        out[name] = (table.version(), table.read())
    return out


def assert_unchanged(before: dict) -> None:
    for name, (version, frame) in before.items():
        table = StorageResource().raw_table(name)
        assert table.version() == version, f"{name}: a commit happened"
        pd.testing.assert_frame_equal(table.read(), frame)


def ingest(instance, relative: str) -> dg.ExecuteInProcessResult:
    return inbox_ingest_job.execute_in_process(
        run_config={"ops": {"ingest_inbox_file": {"config": {"path": relative}}}}, instance=instance,
        resources={"storage": StorageResource()}, raise_on_error=False)


def failure_text(result) -> str:
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = event.event_specific_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def event_log_text(instance, result) -> str:
    return "\n".join(repr(record) for record in instance.all_logs(result.run_id))


def materialized(instance, result) -> list:
    return [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]


@pytest.fixture()
def secret(tmp_path) -> Path:
    path = tmp_path / "outside" / "victim.csv"
    path.parent.mkdir()
    path.write_text(SECRET + "\n1,2,3\n")
    return path


@pytest.mark.parametrize("case", CONTENT_CASES, ids=lambda c: c.name)
def test_a_bad_file_is_rejected_and_nothing_changes(instance, stored, case: Case):
    folder = inbox.inbox_dir() / case.table
    path = case.make(folder / f"{DAYS[1]}.csv", DAYS[1])
    result = ingest(instance, path.relative_to(inbox.inbox_dir()).as_posix())

    assert not result.success
    text = failure_text(result)
    assert len(text) <= MESSAGE_LIMIT + 200, len(text)  # the reason plus the file's relative name
    for word in case.words:
        assert word in text, text
    assert_unchanged(stored)
    assert materialized(instance, result) == []
    rejected = inbox.inbox_dir() / "rejected" / case.table / path.name
    report = rejected.with_name(rejected.name + ".error.txt")
    assert rejected.exists() and not path.exists()
    assert report.stat().st_size <= MESSAGE_LIMIT + 600 and "Nothing was written" in report.read_text()


@pytest.mark.parametrize("relative", ["transactions/../../outside/victim.csv", "../outside/victim.csv",
                                      "/etc/passwd", "transactions/../../../outside/victim.csv"])
def test_a_path_outside_the_inbox_is_refused_and_never_touched(instance, stored, secret, relative):
    inbox.inbox_dir().mkdir(parents=True, exist_ok=True)
    (inbox.inbox_dir() / "transactions").mkdir(exist_ok=True)
    result = ingest(instance, relative.replace("outside", str(secret.parent.relative_to(secret.parent.parent))))
    assert not result.success
    assert "not a path inside the inbox" in failure_text(result)
    assert secret.read_text().startswith(SECRET)  # neither moved nor changed
    assert SECRET not in event_log_text(instance, result)
    assert_unchanged(stored)


def test_a_link_to_a_file_outside_is_refused_without_reading_it(instance, stored, secret):
    link = inbox.inbox_dir() / "transactions" / f"{DAYS[1]}.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    pending = inbox.pending_files(inbox.inbox_dir())
    assert [p.relative for p in pending] == [f"transactions/{DAYS[1]}.csv"]

    result = ingest(instance, pending[0].relative)

    assert not result.success and "link" in failure_text(result)
    assert secret.read_text().startswith(SECRET)
    moved = inbox.inbox_dir() / "rejected" / "transactions" / link.name
    assert moved.is_symlink() and not link.exists() and not link.is_symlink()
    report = moved.with_name(moved.name + ".error.txt").read_text()
    assert SECRET not in report and SECRET not in event_log_text(instance, result)
    assert_unchanged(stored)


def test_a_linked_folder_is_never_entered(instance, stored, secret):
    inbox.inbox_dir().mkdir(parents=True)
    write(transactions(DAYS[1]), secret.parent / f"{DAYS[1]}.csv")
    (inbox.inbox_dir() / "transactions").symlink_to(secret.parent, target_is_directory=True)
    pending = inbox.pending_files(inbox.inbox_dir())
    assert [p.relative for p in pending] == ["transactions"]  # the link itself, not what it points to
    for relative in ("transactions", f"transactions/{DAYS[1]}.csv"):
        result = ingest(instance, relative)
        assert not result.success and "link" in failure_text(result)
    assert (secret.parent / f"{DAYS[1]}.csv").exists()
    assert_unchanged(stored)


@pytest.mark.parametrize("name", ["transactions/jan-fifth.csv", "transactions/2025-01-02 (1).csv",
                                  "transactions_latest.csv", "transactions/2025-1-2.csv"])
def test_a_file_must_say_its_day(instance, stored, name):
    path = inbox.inbox_dir() / name
    write(transactions(DAYS[1]), path)
    result = ingest(instance, name)
    assert not result.success and "the name must say the UTC day" in failure_text(result)
    assert_unchanged(stored)


def test_a_good_file_replaces_exactly_its_day(instance, stored):
    fresh = transactions(DAYS[1]).head(50)
    write(fresh, inbox.inbox_dir() / f"transactions_{DAYS[1]}.parquet")
    # Labels of the day's other charges would dangle; replace the labels of the day too.
    result = ingest(instance, f"transactions_{DAYS[1]}.parquet")
    assert result.success
    table = StorageResource().raw_table("transactions")
    day = table.read(*_window(DAYS[1]))
    expected = fresh.assign(cc_num=tokenizer().tokens(fresh["cc_num"])).reset_index(drop=True)  # stored as tokens
    pd.testing.assert_frame_equal(day, expected, check_dtype=False)
    for other in (DAYS[0], DAYS[2]):
        pd.testing.assert_frame_equal(table.read(*_window(other)),
                                      stored["transactions"][1].pipe(_on_day, other), check_dtype=False)
    assert (inbox.inbox_dir() / "processed" / "transactions" / f"transactions_{DAYS[1]}.parquet").exists()
    assert {e.event_specific_data.materialization.partition for e in materialized(instance, result)} == {
        DAYS[1].isoformat()}


def _window(day):
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    return start.to_pydatetime(), (start + pd.Timedelta(days=1)).to_pydatetime()


def _on_day(frame: pd.DataFrame, day) -> pd.DataFrame:
    start, end = _window(day)
    return frame[(frame["datetime"] >= start) & (frame["datetime"] < end)].reset_index(drop=True)


def test_nothing_is_ever_written_outside_the_inbox(instance, stored, secret):
    before = sorted(os.listdir(secret.parent))
    link = inbox.inbox_dir() / f"transactions_{DAYS[1]}.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret)
    ingest(instance, link.name)
    assert sorted(os.listdir(secret.parent)) == before
