"""Bring your own data: a foreign-shaped data set goes through `cli run --contract` with a contract
file only — other column names, string ids, other categories, MM/YY expiry, snapshot profiles and
cards, labels inside the transactions, files named by local day in Europe/Paris — and yields a
champion, batch scores and features identical to the same data given in the native shape.

Each run is the real command in its own process (the daily partitions follow the contract's start
date, which is fixed when the definitions load)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator

FIRST = date(2025, 1, 1)
DAYS = 16
CONFIG = SyntheticConfig(seed=11, start_date=FIRST, n_days=30, n_cards=150, transactions_per_day=500, fraud_rate=0.03)
PARIS = "Europe/Paris"
VALID_FROM = "2020-01-01T00:00:00+00:00"
CATEGORY_NAMES = {"Grocery": "grocery_pos", "Restaurant/Cafeteria": "food_dining", "Health/Beauty": "health_fitness",
                  "Domestic Transport": "gas_transport", "Clothing": "shopping_pos", "Electronics": "shopping_net",
                  "Sports/Outdoors": "entertainment", "Holiday/Travel": "travel", "Cash Withdrawal": "misc_pos",
                  "Other": "misc_net"}


def the_data() -> dict[str, pd.DataFrame]:
    """One data set, in our vocabulary: charges with their label, snapshot profiles and cards."""
    generator = SyntheticGenerator(CONFIG)
    days = [generator.day(FIRST + timedelta(days=i)) for i in range(DAYS)]
    charges = pd.concat([d.transactions for d in days], ignore_index=True)
    labels = pd.concat([d.fraud_labels for d in days], ignore_index=True)[["tid", "is_fraud"]]
    charges = charges.merge(labels, on="tid")
    charges["tid"] = "TX-" + charges["tid"].map(lambda t: f"{t:x}".upper())  # hex text ids, order kept
    charges["category"] = charges["category"].map(CATEGORY_NAMES)
    profiles = generator.profiles().sort_values("event_time").groupby("cc_num", as_index=False).first()
    cards = generator.credit_cards().sort_values("event_time").groupby("cc_num", as_index=False).last()
    cards["expires"] = pd.to_datetime(cards["expires"]) + pd.offsets.MonthEnd(0)  # MM/YY means the month's end
    return {"charges": charges, "profiles": profiles.drop(columns="event_time"),
            "cards": cards.drop(columns="event_time")}


def native(data: dict, folder: Path) -> Path:
    """The data in our own shape: UTC day files, a labels table, histories with event_time."""
    charges = data["charges"]
    for day, rows in charges.groupby(charges["datetime"].dt.date):
        rows.drop(columns="is_fraud").to_csv(_made(folder / "landing" / "transactions" / f"{day}.csv"), index=False)
        labels = rows[["tid", "cc_num", "datetime", "is_fraud"]]
        labels = labels.assign(label_time=rows["datetime"] + pd.Timedelta("7d"))
        labels.to_parquet(_made(folder / "landing" / "fraud_labels" / f"{day}.parquet"), index=False)
    valid_from = pd.Timestamp(VALID_FROM)
    data["profiles"].assign(event_time=valid_from).to_csv(_made(folder / "landing" / "profiles" / "p.csv"), index=False)
    cards = data["cards"].assign(expires=data["cards"]["expires"].dt.date, event_time=valid_from)
    cards.to_csv(_made(folder / "landing" / "credit_cards" / "c.csv"), index=False)
    return _contract(folder, {"name": "native", "landing": "landing", "tid_type": "string", "categories": "open"})


def foreign(data: dict, folder: Path) -> Path:
    """The same data as another bank exports it."""
    charges = data["charges"].copy()
    local = charges["datetime"].dt.tz_convert(PARIS)
    out = pd.DataFrame({
        "trans_id": charges["tid"], "card_number": charges["cc_num"].astype(str),
        "ts_local": local.dt.strftime("%d/%m/%Y %H:%M:%S.%f"), "merchant_cat": charges["category"],
        "amt": charges["amount"], "lat": charges["latitude"], "lon": charges["longitude"],
        "fraud_label": charges["is_fraud"].map({1: "yes", 0: "no"}), "channel": "card_present",
    })
    for day, rows in out.groupby(local.dt.date):
        rows.to_csv(_made(folder / "export" / "txns" / f"txns_{day:%Y%m%d}.csv"), sep=";", index=False)
    profiles = data["profiles"]
    pd.DataFrame({"card_number": profiles["cc_num"], "full_name": profiles["name"],
                  "gender": profiles["sex"].map({"F": "Female", "M": "Male"}),
                  "dob": pd.to_datetime(profiles["birthdate"]).dt.strftime("%d/%m/%Y"),
                  "home_city": profiles["city"], "home_country": profiles["country"]}
                 ).to_parquet(_made(folder / "export" / "customers" / "customers.parquet"), index=False)
    cards = data["cards"]
    pd.DataFrame({"card_number": cards["cc_num"], "network": cards["provider"].str.upper(),
                  "expiry": cards["expires"].dt.strftime("%m/%y")}
                 ).to_csv(_made(folder / "export" / "cards" / "cards.csv"), index=False)
    return _contract(folder, {
        "name": "foreign_bank", "landing": "export", "timezone": PARIS, "tid_type": "string",
        "categories": "open", "providers": "open",
        "tables": {
            "transactions": {"path": "export/txns", "file_name": "txns_%Y%m%d", "delimiter": ";",
                             "formats": {"datetime": "%d/%m/%Y %H:%M:%S.%f"}, "extra_columns": "ignore",
                             "columns": {"trans_id": "tid", "card_number": "cc_num", "ts_local": "datetime",
                                         "merchant_cat": "category", "amt": "amount", "lat": "latitude",
                                         "lon": "longitude"},
                             "values": {"is_fraud": {"yes": 1, "no": 0}}},
            "fraud_labels": {"from_transactions": {"column": "fraud_label", "label_delay": "7d"}},
            "profiles": {"path": "export/customers", "valid_from": VALID_FROM,
                         "columns": {"card_number": "cc_num", "full_name": "name", "gender": "sex", "dob": "birthdate",
                                     "home_city": "city", "home_country": "country"},
                         "formats": {"birthdate": "%d/%m/%Y"}, "values": {"sex": {"Female": "F", "Male": "M"}}},
            "credit_cards": {"path": "export/cards", "valid_from": VALID_FROM,
                             "columns": {"card_number": "cc_num", "network": "provider", "expiry": "expires"},
                             "formats": {"expires": "%m/%y"}, "values": {"provider": {"VISA": "visa",
                                                                                       "MASTERCARD": "mastercard"}}},
        }})


def _made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _contract(folder: Path, data: dict) -> Path:
    path = folder / "contract.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(contract: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FRAUD_START_DATE", "FRAUD_CONTRACT", "DAGSTER_HOME")}
    env.update(FRAUD_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true", DAGSTER_DISABLE_TELEMETRY="true")
    return subprocess.run([sys.executable, "-m", "fraud_pipelines.cli", "run", "--contract", str(contract), *args],
                          env=env, capture_output=True, text=True, timeout=900, cwd=contract.parent)


def feature_tables(home: Path) -> dict[str, pd.DataFrame]:
    from fraud_pipelines.feature_store import FeatureStore

    fs = FeatureStore(str(home / "feature_store"))
    out = {}
    for name in ("transactions", "transactions_4h_aggs"):
        frame = fs.get_feature_group(name, version=1).read()
        out[name] = frame.sort_values("tid").reset_index(drop=True)
    return out


@pytest.mark.slow
def test_a_foreign_data_set_runs_end_to_end_with_a_contract_only(tmp_path):
    data = the_data()
    foreign_contract, native_contract = foreign(data, tmp_path / "foreign"), native(data, tmp_path / "native")

    ran = run_cli(foreign_contract, tmp_path / "home_foreign")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Champion:" in ran.stdout and f"{FIRST}..{FIRST + timedelta(days=DAYS - 1)}" in ran.stdout
    assert "Not ingested" not in ran.stdout  # every landed charge fell inside the range

    again = run_cli(native_contract, tmp_path / "home_native")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    mine, ours = feature_tables(tmp_path / "home_foreign"), feature_tables(tmp_path / "home_native")
    for name in mine:
        assert len(mine[name]) == len(data["charges"])
        pd.testing.assert_frame_equal(mine[name], ours[name])
    assert mine["transactions"]["tid"].str.startswith("TX-").all()

    from deltalake import DeltaTable

    scores = DeltaTable(str(tmp_path / "home_foreign" / "scores" / "batch_scores")).to_pandas()
    assert len(scores) == len(data["charges"]) and scores["model_version"].notna().all()


def test_contract_errors_name_the_key(tmp_path):
    path = _contract(tmp_path, {"name": "x", "timezone": "Mars/Olympus", "tables": {"transaction": {},
                                "profiles": {"columns": {"card": "card_no"}}}})
    ran = run_cli(path, tmp_path / "home")
    assert ran.returncode == 2
    assert "timezone" in ran.stderr and "Mars/Olympus" in ran.stderr
    assert "transaction" in ran.stderr
    path = _contract(tmp_path, {"name": "x", "colums": {}})
    ran = run_cli(path, tmp_path / "home")
    assert ran.returncode == 2 and "colums: not a contract key" in ran.stderr
