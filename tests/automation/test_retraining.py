"""Retraining sensors on real data, through Dagster's test helpers: nothing changed means no
request (the cursor is respected, nothing is asked twice); a condition that holds yields one
request whose tags say why; the retraining run promotes only a better model."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd

from bench.simulation import ShiftedRawSource
from fraud_pipelines.automation import inbox
from fraud_pipelines.automation.drift_data import drift_table
from fraud_pipelines.automation.jobs import CHAMPION_TAG, REASON_TAG, TRIGGER_TAG
from fraud_pipelines.automation.policy import RetrainPolicy
from fraud_pipelines.automation.run_sensors import inbox_refresh_sensor
from fraud_pipelines.privacy.tokens import tokenizer
from fraud_pipelines.resources import MlflowResource, StorageResource

from .world import CUTOFF, SMALL

DAY_1, DAY_2, DAY_3 = date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15)
ONE_DAY_WINDOW = {"ops": {"feature_drift": {"config": {"window_days": 1}}}}


def test_new_labels_sensor_asks_once_and_the_run_promotes_only_a_better_model(make_world):
    world = make_world(policy=RetrainPolicy(new_label_days=3))
    start = world.evaluate("new_labels_sensor", None)
    assert start.run_requests == [] and f"0 of 3 labelled days since {CUTOFF}" in start.skip_message
    world.day(DAY_1)
    world.day(DAY_2)
    waiting = world.evaluate("new_labels_sensor", start.cursor)
    assert waiting.run_requests == [] and "2 of 3 labelled days" in waiting.skip_message

    world.day(DAY_3)
    fired = world.evaluate("new_labels_sensor", waiting.cursor)
    [request] = fired.run_requests
    assert request.run_key == "new_labels:v1:2025-01-15"
    assert request.tags[TRIGGER_TAG] == "new_labels" and request.tags[CHAMPION_TAG] == "1"
    assert request.tags[REASON_TAG] == ("3 days labelled since champion v1's training cutoff 2025-01-13: "
                                        "2025-01-13..2025-01-15 (3 days) (threshold 3)")
    again = world.evaluate("new_labels_sensor", fired.cursor)
    assert again.run_requests == [] and "0 of 3 labelled days since 2025-01-16" in again.skip_message

    result = world.launch(request, "retrain_job")
    assert result.success
    assert world.instance.get_run_by_id(result.run_id).tags[REASON_TAG] == request.tags[REASON_TAG]
    evaluation = result.output_for_node("model_evaluation")
    registered = result.output_for_node("registered_model")
    assert registered["version"] == "2" and evaluation["champion_version"] == "1"
    assert registered["promoted"] == evaluation["promote"]
    assert MlflowResource().champion_version() == ("2" if evaluation["promote"] else "1")
    # An older cursor would count the same days again, but a retraining already ran on them.
    stale = world.evaluate("new_labels_sensor", waiting.cursor)
    assert stale.run_requests == []
    if not evaluation["promote"]:
        assert "already started on the latest labels" in stale.skip_message


def test_rolling_training_window_is_valid_retrain_config():
    config = RetrainPolicy(training_window_days=10).training_run_config(date(2025, 1, 20))
    assert config["ops"]["training_dataset"]["config"] == {
        "train_start": "2025-01-11", "train_end": "2025-01-18", "validation_end": "2025-01-19",
        "test_end": "2025-01-21"}
    from fraud_pipelines.definitions import defs

    dg.validate_run_config(defs.resolve_job_def("retrain_job"), config)
    assert RetrainPolicy().training_run_config(date(2025, 1, 20)) == {}


def test_drift_sensor_fires_on_a_shifted_feature_then_waits(make_world):
    world = make_world(raw_source=ShiftedRawSource(**SMALL, shift_from=DAY_2.isoformat(), amount_factor=3.0))
    world.day(DAY_1, ONE_DAY_WINDOW)
    calm = world.evaluate("drift_sensor", None)
    assert calm.run_requests == [] and "2025-01-13: largest PSI" in calm.skip_message
    assert "is within 0.2" in calm.skip_message
    unchanged = world.evaluate("drift_sensor", calm.cursor)
    assert unchanged.run_requests == [] and "no new drift measurement since 2025-01-13" in unchanged.skip_message

    world.day(DAY_2, ONE_DAY_WINDOW)  # every amount tripled from this day on
    fired = world.evaluate("drift_sensor", unchanged.cursor)
    [request] = fired.run_requests
    reason = request.tags[REASON_TAG]
    assert reason.startswith("PSI above 0.2 on 2025-01-14 against champion v1's training data: ")
    assert "amount " in reason and request.run_key == "drift:v1:2025-01-14"

    table = drift_table(StorageResource().location).read()
    psi = table.assign(day=table["datetime"].dt.strftime("%Y-%m-%d")).set_index(["day", "feature"])["psi"]
    assert psi["2025-01-14", "amount"] > 0.2 > 0.1 > psi["2025-01-13", "amount"]
    assert set(table.loc[table["datetime"].dt.date == DAY_2, "model_version"]) == {"1"}
    event = world.instance.get_latest_materialization_event(dg.AssetKey("feature_drift"))
    metadata = event.asset_materialization.metadata
    assert "amount" in {r.data["feature"] for r in metadata["psi_table"].records}
    assert metadata["model_version"].value == "1" and metadata["day"].value == "2025-01-14"

    world.day(DAY_3, ONE_DAY_WINDOW)  # still shifted: within the cooldown, no second request
    waiting = world.evaluate("drift_sensor", fired.cursor)
    assert waiting.run_requests == [] and "drift persists" in waiting.skip_message
    assert "next request from 2025-01-21" in waiting.skip_message


def swap_labels(labels: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Decay: every fraud relabelled genuine and as many genuine charges relabelled fraud."""
    rng = np.random.default_rng(seed)
    fraud = labels["is_fraud"] == 1
    chosen = rng.choice(np.flatnonzero(~fraud.to_numpy()), size=int(fraud.sum()), replace=False)
    swapped = labels.copy()
    swapped["is_fraud"] = 0
    swapped.loc[swapped.index[chosen], "is_fraud"] = 1
    return swapped


def test_decay_sensor_fires_when_corrected_labels_arrive_through_the_inbox(make_world):
    world = make_world(policy=RetrainPolicy(min_positives=20))
    for day in (DAY_1, DAY_2, DAY_3):
        world.day(day)
    healthy = world.evaluate("decay_sensor", None)
    assert healthy.run_requests == [] and "test PR-AUC" in healthy.skip_message and "drop" in healthy.skip_message

    raw = StorageResource().raw_table("fraud_labels")
    pans = ShiftedRawSource(**SMALL).source().history("profiles")[0].frame["cc_num"]
    card_numbers = dict(zip(tokenizer().tokens(pans).tolist(), pans.tolist()))  # files carry card numbers
    for offset, day in enumerate((DAY_1, DAY_2, DAY_3)):
        frame = raw.read(*[pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=d) for d in (0, 1)])
        frame["cc_num"] = frame["cc_num"].map(card_numbers)
        path = inbox.inbox_dir() / "fraud_labels" / f"{day}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        swap_labels(frame, offset).to_parquet(path, index=False)
    import os
    import time

    for path in (inbox.inbox_dir() / "fraud_labels").iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    arrivals = world.evaluate("inbox_sensor", None).run_requests
    assert len(arrivals) == 3
    for request in arrivals:
        ingested = world.launch(request, "inbox_ingest_job")
        assert ingested.success
        context = dg.build_run_status_sensor_context(
            sensor_name="inbox_refresh_sensor", dagster_event=ingested.get_run_success_event(),
            dagster_instance=world.instance, dagster_run=ingested.dagster_run)
        refresh = inbox_refresh_sensor(context)
        assert refresh.asset_selection == [dg.AssetKey("fraud_labels_fg")]
        assert world.launch(refresh, "refresh_job").success

    fired = world.evaluate("decay_sensor", healthy.cursor)
    [request] = fired.run_requests
    reason = request.tags[REASON_TAG]
    assert reason.startswith("champion v1's PR-AUC fell to 0.0") and "below its test PR-AUC" in reason
    assert request.run_key == "decay:v1:2025-01-15"
    again = world.evaluate("decay_sensor", fired.cursor)
    assert again.run_requests == [] and "no labelled days after" in again.skip_message
