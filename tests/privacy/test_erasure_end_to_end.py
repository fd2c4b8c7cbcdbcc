"""End to end, on the demo's graph (small): no card number is stored anywhere under $FRAUD_HOME, and
`forget` removes a card's token from every file, keeps the training datasets readable (minus the
card) and is idempotent. Real Dagster runs on the persistent instance, real Delta, SQLite and MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd

from fraud_pipelines import contract as contracts
from fraud_pipelines.cli import run_pipeline
from fraud_pipelines.privacy.erasure import INCOMING
from fraud_pipelines.privacy.scan import scan
from fraud_pipelines.privacy.tokens import KEY_ENV, tokenizer
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.settings import ensure_dagster_home

REPO = Path(__file__).resolve().parents[2]
SMALL = contracts.SyntheticContract(n_cards=300, transactions_per_day=1_000, fraud_rate=0.02, seed=11)
FIRST, LAST = "2025-01-01", "2025-01-14"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fraud_pipelines.cli", *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)


def splits(view, version: int) -> list[pd.DataFrame]:
    x_train, x_val, x_test, y_train, y_val, y_test = view.get_train_validation_test_split(
        version, primary_key=True, event_time=True)
    return [x.assign(is_fraud=y.to_numpy()) for x, y in ((x_train, y_train), (x_val, y_val), (x_test, y_test))]


def test_no_card_number_is_stored_and_forget_leaves_no_token(fraud_home, monkeypatch, capfd):
    monkeypatch.delenv(KEY_ENV, raising=False)  # the demo's way: a generated key, announced
    contracts.store(contracts.SYNTHETIC.model_copy(update={"start_date": date(2025, 1, 1), "synthetic": SMALL}),
                    fraud_home)
    ensure_dagster_home()
    assert run_pipeline(FIRST, LAST).success
    assert "generated a demo card token key" in capfd.readouterr().err

    source = RawSourceResource().source()
    pans = set(source.history("profiles")[0].frame["cc_num"].tolist())
    days = [d.date() for d in pd.date_range(FIRST, LAST)]
    charges = pd.concat([p.frame for d in days for p in source.day_parts("transactions", d)])
    assert set(charges["cc_num"]) <= pans and len(pans) == SMALL.n_cards

    # Every Delta table, the online store, MLflow, Dagster's event log: no card number anywhere.
    assert scan(fraud_home, pans, skip=INCOMING) == []
    cards = tokenizer()
    stored = StorageResource().raw_table("transactions").read()
    assert set(stored["cc_num"]) == set(cards.tokens(charges["cc_num"]).tolist())

    card = int(charges["cc_num"].value_counts().index[0])  # the busiest card
    token = cards.token(card)
    card_tids = set(stored.loc[stored["cc_num"] == token, "tid"])
    # The scan sees the token where it is (so its empty answers mean something).
    holders = {str(Path(f.path).relative_to(fraud_home)).split("/")[0] for f in scan(fraud_home, [token])}
    assert {"raw", "feature_store", "scores"} <= holders

    fs = StorageResource().storage().feature_store()
    view = fs.get_feature_view("cc_trans_fraud", 1)
    version = view.training_dataset_versions()[-1]
    before = splits(view, version)
    in_training = sum(int(frame["tid"].isin(card_tids).sum()) for frame in before)
    assert in_training > 0

    erased = cli("forget", "--card", str(card))
    assert erased.returncode == 0, erased.stderr[-3000:]
    assert str(card) not in erased.stdout + erased.stderr and str(token) in erased.stdout
    assert "raw/transactions: " in erased.stdout and "online table" in erased.stdout
    assert scan(fraud_home, [token], skip=INCOMING) == []

    # Other cards are untouched; the training dataset reads as before minus the card's rows.
    assert len(StorageResource().raw_table("transactions").read()) == len(stored) - len(card_tids)
    view = StorageResource().storage().feature_store().get_feature_view("cc_trans_fraud", 1)
    record = view.get_training_dataset(version)
    assert set(record.frozen) == set(record.splits)
    assert sum(record.erasures[-1]["rows_removed"].values()) == in_training
    for old, new in zip(before, splits(view, version)):
        expected = old[~old["tid"].isin(card_tids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(new, expected)
    assert record.row_counts == {name: len(frame) for name, frame in zip(("train", "validation", "test"),
                                                                          splits(view, version))}

    # Idempotent: again from the CLI, then as the Dagster job (which takes the token, not the number).
    again = cli("forget", "--card", str(card))
    assert again.returncode == 0 and "nothing to remove" in again.stdout, again.stderr[-2000:]
    from fraud_pipelines.definitions import defs

    job = defs.resolve_job_def("forget_card_job")
    with dg.DagsterInstance.get() as instance:
        run = job.execute_in_process(run_config={"ops": {"forget_card": {"config": {"card_token": token}}}},
                                     instance=instance)
    assert run.success and run.output_for_node("forget_card") == {"delta_rows": {}, "online_rows": {}}
    # The documented exception: the erasure job's own run record keeps the token it was given.
    left = scan(fraud_home, [token], skip=INCOMING)
    assert left and all(Path(f.path).is_relative_to(fraud_home / "dagster") for f in left)
