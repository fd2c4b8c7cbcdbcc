"""Write–audit–publish on the landing path: real Dagster runs over real Delta tables.

Three good days are stored first; then one file is damaged the way real files go wrong and the
day is run again. Every refusal must name the file, the column and the problem in a bounded
message, leave every stored table's version and rows exactly as they were, and run nothing
downstream. Valid re-runs stay idempotent and bit-identical."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from fraud_pipelines.partitions import DAILY
from fraud_pipelines.raw.assets import raw_credit_cards, raw_fraud_labels, raw_profiles, raw_transactions
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import RawSourceResource, StorageResource
from tests.raw.hostile import CONTENT_CASES, DAYS, GENERATOR, MESSAGE_LIMIT, Case, labels, transactions, write

DAILY_ASSETS = [raw_transactions, raw_fraud_labels, *RAW_CHECKS[:2]]


def land(folder: Path) -> Path:
    for day in DAYS:
        write(transactions(day), folder / "transactions" / f"{day}.csv")
        write(labels(day), folder / "fraud_labels" / f"{day}.csv")
    write(GENERATOR.profiles(), folder / "profiles" / "profiles.csv")
    write(GENERATOR.credit_cards(), folder / "credit_cards" / "cards.parquet")
    return folder


def resources(folder: Path) -> dict:
    return {"storage": StorageResource(), "raw_source": RawSourceResource(kind="files", landing_dir=str(folder))}


consumed: list[str] = []


@dg.asset(partitions_def=DAILY, deps=[raw_transactions, raw_fraud_labels])
def downstream(context) -> None:
    consumed.append(context.partition_key)


def run(folder: Path, assets, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources=resources(folder), raise_on_error=False,
                          instance=dg.DagsterInstance.ephemeral(), **kwargs)


def run_range(folder: Path, first: date, last: date, assets=DAILY_ASSETS):
    return run(folder, assets, tags={"dagster/asset_partition_range_start": first.isoformat(),
                                     "dagster/asset_partition_range_end": last.isoformat()})


def stored_state() -> dict[str, tuple[int | None, pd.DataFrame | None]]:
    state = {}
    for name in ("transactions", "fraud_labels", "profiles", "credit_cards"):
        table = StorageResource().raw_table(name)
        state[name] = (table.version(), table.read() if table.exists() else None)
    return state


def assert_unchanged(before: dict) -> None:
    after = stored_state()
    for name, (version, frame) in before.items():
        assert after[name][0] == version, f"{name}: a commit happened"
        if frame is not None:
            pd.testing.assert_frame_equal(after[name][1], frame)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run did not fail"
    data = failures[0].event_specific_data
    description = data.user_failure_data.description if data.user_failure_data else data.error.message
    return description


@pytest.fixture()
def landed(tmp_path):
    folder = land(tmp_path / "landing")
    assert run(folder, [raw_profiles, raw_credit_cards, *RAW_CHECKS[2:]]).success
    assert run_range(folder, DAYS[0], DAYS[-1]).success
    consumed.clear()
    return folder


def test_a_negative_amount_leaves_the_stored_day_identical(landed):
    before = stored_state()
    stored_day = StorageResource().raw_table("transactions").read(*_window(DAYS[1]))
    path = landed / "transactions" / f"{DAYS[1]}.csv"
    frame = pd.read_csv(path)
    frame.loc[5, "amount"] = -40.0
    bad_tid = int(frame.loc[5, "tid"])
    frame.head(200).to_csv(path, index=False)  # fewer rows, one of them bad

    result = run(landed, [*DAILY_ASSETS, downstream], partition_key=DAYS[1].isoformat())

    assert not result.success
    text = failure_text(result)
    assert str(path) in text and "column 'amount'" in text and "-40.0" in text and str(bad_tid) in text
    assert_unchanged(before)
    pd.testing.assert_frame_equal(StorageResource().raw_table("transactions").read(*_window(DAYS[1])), stored_day)
    assert consumed == []


@pytest.mark.parametrize("case", CONTENT_CASES, ids=lambda c: c.name)
def test_a_bad_file_is_refused_and_nothing_changes(landed, case: Case):
    before = stored_state()
    day = DAYS[1]
    original = landed / case.table / f"{day}.csv"
    original.unlink()
    path = case.make(original, day)
    asset = raw_transactions if case.table == "transactions" else raw_fraud_labels

    result = run(landed, [asset, downstream], partition_key=day.isoformat())

    assert not result.success
    text = failure_text(result)
    assert len(text) <= MESSAGE_LIMIT, len(text)
    assert str(path) in text, text
    for word in case.words:
        assert word in text, text
    assert_unchanged(before)
    assert consumed == []


def test_a_missing_day_names_the_expected_file(landed):
    before = stored_state()
    (landed / "transactions" / f"{DAYS[1]}.csv").unlink()
    result = run(landed, [*DAILY_ASSETS, downstream], partition_key=DAYS[1].isoformat())
    text = failure_text(result)
    assert str(landed / "transactions" / f"{DAYS[1]}.csv") in text and "empty_days" in text
    assert_unchanged(before)
    assert consumed == []


@pytest.mark.parametrize("name", ["jan-fifth.csv", f"{DAYS[1]} (1).csv", f"{DAYS[1]}.csv.bak", "notes.txt"])
def test_any_other_file_in_a_table_folder_is_refused_by_name(landed, name):
    before = stored_state()
    write(transactions(DAYS[1]), landed / "transactions" / name)
    result = run(landed, [*DAILY_ASSETS, downstream], partition_key=DAYS[1].isoformat())
    text = failure_text(result)
    assert name in text and "not transactions data files" in text
    assert_unchanged(before)


def test_a_header_only_file_is_refused_unless_the_day_is_declared_empty(landed, tmp_path, monkeypatch):
    before = stored_state()
    path = landed / "transactions" / f"{DAYS[1]}.csv"
    write(transactions(DAYS[1]).head(0), path)
    write(labels(DAYS[1]).head(0), landed / "fraud_labels" / f"{DAYS[1]}.csv")
    result = run(landed, [*DAILY_ASSETS, downstream], partition_key=DAYS[1].isoformat())
    text = failure_text(result)
    assert str(path) in text and "no transactions rows" in text and "empty_days" in text
    assert_unchanged(before)

    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump({"landing": str(landed), "tables": {
        "transactions": {"empty_days": [DAYS[1].isoformat()]}, "fraud_labels": {"empty_days": [DAYS[1].isoformat()]}}}))
    monkeypatch.setenv("FRAUD_CONTRACT", str(contract))
    assert run(landed, DAILY_ASSETS, partition_key=DAYS[1].isoformat()).success
    table = StorageResource().raw_table("transactions")
    assert len(table.read(*_window(DAYS[1]))) == 0
    assert len(table.read(*_window(DAYS[0]))) == len(transactions(DAYS[0]))


def test_a_future_profile_is_refused(landed):
    before = stored_state()
    profiles = GENERATOR.profiles()
    profiles.loc[0, "event_time"] = pd.Timestamp("2099-01-01", tz="UTC")
    path = landed / "profiles" / "profiles.csv"
    write(profiles, path)
    result = run(landed, [raw_profiles])
    text = failure_text(result)
    assert str(path) in text and "event_time" in text and "future" in text and "2099-01-01" in text
    assert_unchanged(before)


def test_values_are_stored_exactly(tmp_path):
    folder = tmp_path / "landing"
    frame = transactions(DAYS[0])
    frame.loc[0, "latitude"] = 41.855119849289196
    frame.loc[1, "longitude"] = -0.1 - 0.2  # -0.30000000000000004
    frame.loc[2, "tid"] = 2**62 + 12345  # far past 2^53: kept to the last digit
    write(frame, folder / "transactions" / f"{DAYS[0]}.csv")
    assert run_range(folder, DAYS[0], DAYS[0], [raw_transactions]).success
    stored = StorageResource().raw_table("transactions").read().set_index("tid").sort_index()
    expected = frame.set_index("tid").sort_index()
    assert stored.loc[2**62 + 12345, "amount"] == expected.loc[2**62 + 12345, "amount"]
    assert (stored["latitude"].to_numpy().view("int64") == expected["latitude"].to_numpy().view("int64")).all()
    assert (stored["longitude"].to_numpy().view("int64") == expected["longitude"].to_numpy().view("int64")).all()
    assert (stored["amount"].to_numpy().view("int64") == expected["amount"].to_numpy().view("int64")).all()


def test_float_ids_below_two_to_the_53_are_kept(tmp_path):
    folder = tmp_path / "landing"
    frame = transactions(DAYS[0])
    frame["tid"] = frame["tid"] - 20250101000000000 + 2**52  # below 2^53: a float holds it exactly
    expected = sorted(frame["tid"])
    write(frame.astype({"tid": "float64", "cc_num": "float64"}), folder / "transactions" / f"{DAYS[0]}.parquet")
    assert run_range(folder, DAYS[0], DAYS[0], [raw_transactions]).success
    stored = StorageResource().raw_table("transactions").read()
    assert stored["tid"].dtype == "int64" and sorted(stored["tid"]) == expected


def test_rerunning_a_valid_day_is_idempotent_and_bit_identical(landed):
    table = StorageResource().raw_table("transactions")
    before, version = table.read(), table.version()
    for _ in range(2):
        assert run(landed, DAILY_ASSETS, partition_key=DAYS[1].isoformat()).success
    assert table.version() == version + 2
    pd.testing.assert_frame_equal(table.read(), before)
    assert table.count() == len(before)


def test_labels_for_days_without_stored_charges_are_refused(tmp_path):
    folder = land(tmp_path / "landing")
    result = run(folder, [raw_fraud_labels], partition_key=DAYS[0].isoformat())
    assert "no transactions are stored yet" in failure_text(result)
    assert not StorageResource().raw_table("fraud_labels").exists()


def _window(day: date):
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    return start.to_pydatetime(), (start + pd.Timedelta(days=1)).to_pydatetime()


def test_messages_never_echo_a_file(landed):
    """A secret-looking header line in a landing file appears nowhere beyond a clipped name."""
    path = landed / "transactions" / f"{DAYS[1]}.csv"
    secret = "SECRET_TOKEN_" + "s" * 500
    frame = transactions(DAYS[1]).rename(columns={"amount": secret})
    write(frame, path)
    text = failure_text(run(landed, DAILY_ASSETS, partition_key=DAYS[1].isoformat()))
    assert secret not in text and "SECRET_TOKEN_" in text
    assert os.path.getsize(path) > 0


def test_a_tid_repeated_across_chunks_of_one_run_is_refused_and_the_chunk_not_written():
    from fraud_pipelines import contract as contracts
    from fraud_pipelines.raw.files import RawInputError
    from fraud_pipelines.raw.ingest import ingest_days
    from fraud_pipelines.raw.sources import Part

    table = StorageResource().raw_table("transactions")
    second = transactions(DAYS[1])
    second.loc[3, "tid"] = int(transactions(DAYS[0])["tid"].iloc[7])
    frames = {DAYS[0]: transactions(DAYS[0]), DAYS[1]: second}
    with pytest.raises(RawInputError, match=r"file of 2025-01-02: column .tid.: 1 tid\(s\) are already stored"):
        ingest_days("transactions", DAYS[:2], lambda d: [Part(f"file of {d}", frames[d])], table,
                    contract=contracts.SYNTHETIC, chunk_rows=1)  # one day per chunk
    assert table.days() == [DAYS[0].isoformat()]  # the first chunk was valid and committed; the second not
