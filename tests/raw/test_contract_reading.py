"""Reading files as a data contract declares: formats, time zones, id types, value maps, and the
contract's own errors naming the key to change."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from fraud_pipelines import contract as contracts
from fraud_pipelines.raw.files import RawInputError, ReadSpec, local_days, read_file

CARDS = pa.schema([("cc_num", pa.int64()), ("provider", pa.string()), ("expires", pa.date32()),
                   ("event_time", pa.timestamp("us", tz="UTC"))])
CHARGES = contracts.parse({"tid_type": "string"}).schema("transactions")


def csv(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_month_year_expiry_is_the_last_day_of_the_month(tmp_path):
    path = csv(tmp_path, "cc_num,provider,expires,event_time\n4444037300542691,visa,02/28,2024-01-01\n"
                         "4444037300542692,visa,12/29,2024-01-01\n")
    frame = read_file(path, ReadSpec("credit_cards", CARDS, formats={"expires": "%m/%y"}))
    assert frame["expires"].dt.date.tolist() == [date(2028, 2, 29), date(2029, 12, 31)]
    assert frame["cc_num"].tolist() == [4444037300542691, 4444037300542692]  # digits kept exactly


@pytest.mark.parametrize("value, fmt", [("08/2029", "%m/%y"), ("08/2029", None), ("2029-13-01", None),
                                        ("31/12/2029", None)])
def test_dates_that_do_not_fit_the_format_are_refused(tmp_path, value, fmt):
    path = csv(tmp_path, f"cc_num,provider,expires,event_time\n4444037300542691,visa,{value},2024-01-01\n")
    formats = {"expires": fmt} if fmt else {}
    with pytest.raises(RawInputError, match=f"column 'expires'.*{value}"):
        read_file(path, ReadSpec("credit_cards", CARDS, formats=formats))


def test_naive_times_are_read_in_the_declared_zone_and_offsets_are_honoured(tmp_path):
    path = csv(tmp_path, "tid,cc_num,datetime,category,amount,latitude,longitude\n"
                         "a1,4444037300542691,2025-01-05 00:30:00,Grocery,1.5,1,2\n"
                         "a2,4444037300542691,2025-07-05T00:30:00+00:00,Grocery,1.5,1,2\n"
                         "a3,4444037300542691,2025-07-05 00:30:00,Grocery,1.5,1,2\n")
    frame = read_file(path, ReadSpec("transactions", CHARGES, zone=ZoneInfo("Europe/Paris")))
    assert [str(t) for t in frame["datetime"]] == ["2025-01-04 23:30:00+00:00", "2025-07-05 00:30:00+00:00",
                                                   "2025-07-04 22:30:00+00:00"]
    assert frame["tid"].tolist() == ["a1", "a2", "a3"]


def test_a_time_that_does_not_exist_in_the_zone_is_refused(tmp_path):
    path = csv(tmp_path, "tid,cc_num,datetime,category,amount,latitude,longitude\n"
                         "a1,4444037300542691,2025-03-30 02:30:00,Grocery,1.5,1,2\n")
    with pytest.raises(RawInputError, match="do not exist or are ambiguous in Europe/Paris"):
        read_file(path, ReadSpec("transactions", CHARGES, zone=ZoneInfo("Europe/Paris")))


def test_epoch_times_value_maps_and_renamed_columns(tmp_path):
    frame = pd.DataFrame({"id": [7, 8], "card": ["4444037300542691", "4444037300542691"],
                          "ts": [1735689600000, 1735689601500], "cat": ["food", "x"], "amt": [1.0, 2.0],
                          "lat": [0.0, 0.0], "lon": [0.0, 0.0]})
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    spec = ReadSpec("transactions", CHARGES, formats={"datetime": "epoch_ms"},
                    values={"category": {"food": "Grocery"}},
                    columns={"id": "tid", "card": "cc_num", "ts": "datetime", "cat": "category", "amt": "amount",
                             "lat": "latitude", "lon": "longitude"})
    read = read_file(path, spec)
    assert read["tid"].tolist() == ["7", "8"]  # integer ids declared as text: their digits
    assert read["category"].tolist() == ["Grocery", "x"]
    assert str(read["datetime"].iloc[1]) == "2025-01-01 00:00:01.500000+00:00"


@pytest.mark.parametrize("value, ok", [("123.0", True), ("1.5", False), ("12345678901234567890", False),
                                       ("9007199254740993.0", False), ("1e5", False), (" 42 ", True)])
def test_integer_ids_from_text(tmp_path, value, ok):
    schema = contracts.SYNTHETIC.schema("transactions")
    path = csv(tmp_path, f"tid,cc_num,datetime,category,amount,latitude,longitude\n"
                         f"{value},4444037300542691,2025-01-05 00:30:00,Grocery,1.5,1,2\n")
    if ok:
        assert read_file(path, ReadSpec("transactions", schema))["tid"].tolist() == [int(float(value))]
    else:
        with pytest.raises(RawInputError, match="column 'tid'"):
            read_file(path, ReadSpec("transactions", schema))


def test_a_byte_order_mark_is_fine_and_a_repeated_header_is_not(tmp_path):
    schema = contracts.SYNTHETIC.schema("transactions")
    row = "1,4444037300542691,2025-01-05 00:30:00,Grocery,1.5,1,2\n"
    good = csv(tmp_path, "\ufefftid,cc_num,datetime,category,amount,latitude,longitude\n" + row, "bom.csv")
    assert len(read_file(good, ReadSpec("transactions", schema))) == 1
    bad = csv(tmp_path, "tid,tid,datetime,category,amount,latitude,longitude\n" + row, "twice.csv")
    with pytest.raises(RawInputError, match="repeats column"):
        read_file(bad, ReadSpec("transactions", schema))


def test_local_days_overlapping_a_utc_day():
    assert local_days(date(2025, 1, 5), ZoneInfo("Europe/Paris")) == [date(2025, 1, 5), date(2025, 1, 6)]
    assert local_days(date(2025, 1, 5), ZoneInfo("America/New_York")) == [date(2025, 1, 4), date(2025, 1, 5)]
    assert local_days(date(2025, 1, 5), ZoneInfo("UTC")) == [date(2025, 1, 5)]


@pytest.mark.parametrize("data, words", [
    ({"tables": {"transactions": {"columns": {"amt": "amount_eur"}}}}, ["tables.transactions", "amount_eur"]),
    ({"tid_type": "uuid"}, ["tid_type"]),
    ({"tables": {"profiles": {"valid_from": "soon"}}}, ["tables.profiles.valid_from"]),
    ({"tables": {"fraud_labels": {"from_transactions": {"column": "f", "label_delay": "-1d"}}}}, ["label_delay"]),
    ({"tables": {"transactions": {"valid_from": "2020-01-01"}}}, ["only the history tables"]),
    ({"tables": {"transactions": {"timezone": "CET+1"}}}, ["tables.transactions.timezone"]),
])
def test_contract_errors_name_the_key(data, words):
    with pytest.raises(contracts.ContractError) as raised:
        contracts.parse(data, where="my.yaml")
    for word in words:
        assert word in str(raised.value), str(raised.value)


def test_a_contract_round_trips_with_absolute_paths(tmp_path):
    source = tmp_path / "c.yaml"
    source.write_text("name: x\nlanding: data\ntables:\n  profiles:\n    path: people\n")
    contract = contracts.load(source)
    kept = contracts.store(contract, tmp_path / "home")
    again = contracts.load(kept)
    assert again.folder("profiles", "unused") == (tmp_path / "people").resolve()
    assert again.folder("transactions", "unused") == (tmp_path / "data" / "transactions").resolve()


def test_two_columns_mapping_onto_one_of_ours_are_refused(tmp_path):
    schema = contracts.SYNTHETIC.schema("transactions")
    path = csv(tmp_path, "tid,cc_num,datetime,category,amount,amt,latitude,longitude\n"
                         "1,4444037300542691,2025-01-05 00:30:00,Grocery,1.5,1.6,1,2\n")
    with pytest.raises(RawInputError, match="all map onto"):
        read_file(path, ReadSpec("transactions", schema, columns={"amt": "amount"}))


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(__import__("gzip").compress(b"tid,cc_num\n1,2\n")), "this is a gzip file"),
    (lambda p: p.write_bytes("tid;cc_num;datetime\n1;2;3\n".encode()), "separated by ';'"),
    (lambda p: p.write_bytes("tid,category\n1,Caf\xe9\n".encode("latin-1")), "not UTF-8"),
    (lambda p: p.write_bytes(b"tid,cc_num,datetime,category,amount,latitude,longitude\n1,2,3"), "cut short"),
])
def test_files_that_are_not_csv_text_say_what_they_are(tmp_path, make, words):
    path = tmp_path / "f.csv"
    make(path)
    with pytest.raises(RawInputError, match=words):
        read_file(path, ReadSpec("transactions", contracts.SYNTHETIC.schema("transactions")))
