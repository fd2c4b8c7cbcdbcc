"""Charges without a profile or card version valid at their time, in real Dagster runs: a history
that starts after the charges is refused with counts, samples and a hint; cards without any
history keep their charges with typed null features and a warning in the run's log."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa

from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import RawSourceResource, StorageResource

SMALL = dict(n_cards=200, transactions_per_day=150, horizon_days=10, seed=9, fraud_rate=0.02)
DAY = "2025-01-01"  # the first partition: no earlier feature day is needed


def materialize(assets, instance):
    return dg.materialize(assets, partition_key=DAY, instance=instance, raise_on_error=False,
                          resources={"storage": StorageResource(), "raw_source": RawSourceResource(**SMALL)})


def root_message(result, step: str) -> str:
    failure = next(e for e in result.get_step_failure_events() if e.step_key == step)
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


def test_a_snapshot_given_its_export_time_is_refused_with_counts_samples_and_a_hint():
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance).success
    raw = StorageResource().raw_table("profiles")
    snapshot = raw.read().drop_duplicates("cc_num", keep="last")
    snapshot["event_time"] = pd.Timestamp("2025-03-01", tz="UTC")  # exported after every charge
    raw.replace_all(snapshot)
    charges = StorageResource().raw_table("transactions").read()

    result = materialize(FEATURE_ASSETS[:1], instance)
    assert not result.success
    message = root_message(result, "transactions_fg")
    day_charges = (charges["datetime"].dt.strftime("%Y-%m-%d") == DAY).sum()
    assert f"{day_charges:,} of {day_charges:,} charge(s)" in message
    assert "no profiles version valid at their time" in message and "first profiles version 2025-03-01" in message
    assert "tid " in message and "card " in message and "valid_from" in message
    assert "hold only nulls" not in message and len(message) < 2_000
    fg = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store())
    assert fg.commit_details() == {}


def test_cards_without_any_profile_keep_their_charges_with_typed_nulls_and_a_warning():
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(RAW_ASSETS, instance).success
    raw = StorageResource().raw_table("profiles")
    raw.replace_all(raw.read().iloc[:0])  # no owner known for any card

    result = materialize(FEATURE_ASSETS[:2], instance)
    assert result.success
    fg = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store())
    stored = fg.read()
    assert len(stored) > 0 and stored["sex"].isna().all() and stored["lives_city"].isna().all()
    assert stored["days_until_card_expires"].notna().all()  # the card versions are there
    schema = fg.schema()
    assert pa.types.is_string(schema.field("sex").type) or pa.types.is_large_string(schema.field("sex").type)
    kind = schema.field("lives_city").type
    assert pa.types.is_string(kind) or pa.types.is_large_string(kind)
    logged = [e.message for e in instance.all_logs(result.run_id) if e.level == 30]  # WARNING
    assert any("with no profiles rows at all" in m and "kept with null age_at_transaction, sex, lives_city" in m
               for m in logged)
