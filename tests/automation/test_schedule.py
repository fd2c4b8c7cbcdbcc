"""The daily schedule: a tick targets yesterday's partition, missed days are caught up in order in
one run, nothing runs twice; the jobs are wired so a backfill is one run over the range."""

from __future__ import annotations

from datetime import date, datetime, timezone

import dagster as dg
import pytest
from dagster._core.utils import make_new_run_id

from fraud_pipelines.automation import schedules
from fraud_pipelines.automation.jobs import RANGE_END_TAG, RANGE_START_TAG, REASON_TAG
from fraud_pipelines.definitions import defs


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def tick_at(instance, when: datetime, storage=None):
    storage = storage or defs.resources["storage"]
    # Entered and closed: its resources are built inside an instance context that must not outlive it.
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                   repository_def=defs.get_repository_def(), resources={"storage": storage}) as context:
        return defs.resolve_schedule_def("daily_schedule").evaluate_tick(context)


def ingested(instance, *days: str) -> None:
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_transactions", partition=day))


def test_the_tick_for_a_day_targets_the_day_before(instance):
    data = tick_at(instance, datetime(2025, 1, 6, 0, 30, tzinfo=timezone.utc))
    [request] = data.run_requests
    assert request.partition_key == "2025-01-05" and request.run_key == "2025-01-05"
    assert request.tags[REASON_TAG] == "daily run for 2025-01-05"
    job = defs.resolve_job_def("daily_job")
    dg.validate_run_config(job, request.run_config)
    assert job.partitions_def.has_partition_key("2025-01-05")


def test_missed_days_are_caught_up_in_one_run_in_order(instance):
    ingested(instance, "2025-01-01", "2025-01-02")
    [request] = tick_at(instance, datetime(2025, 1, 6, 0, 30, tzinfo=timezone.utc)).run_requests
    assert request.partition_key is None
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-03", "2025-01-05")
    assert request.partition_key_range == dg.PartitionKeyRange("2025-01-03", "2025-01-05")
    assert "catch-up: 2025-01-03..2025-01-05 in one run (3 days never ingested)" in request.tags[REASON_TAG]


def test_a_long_gap_is_capped_and_the_rest_left_to_a_backfill(instance):
    ingested(instance, "2025-01-01")
    [request] = tick_at(instance, datetime(2025, 1, 20, 0, 30, tzinfo=timezone.utc)).run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-13", "2025-01-19")
    assert "2025-01-02..2025-01-12 is older than 7 days: backfill it" in request.tags[REASON_TAG]


def test_nothing_runs_twice_or_out_of_order(instance):
    ingested(instance, "2025-01-05")
    done = tick_at(instance, datetime(2025, 1, 6, 0, 30, tzinfo=timezone.utc))
    assert done.run_requests == [] and "already ingested" in done.skip_message

    instance.add_run(dg.DagsterRun(job_name="daily_job", run_id=make_new_run_id(),
                                   status=dg.DagsterRunStatus.STARTED))
    busy = tick_at(instance, datetime(2025, 1, 7, 0, 30, tzinfo=timezone.utc))
    assert busy.run_requests == [] and "still STARTED" in busy.skip_message

    early = tick_at(instance, datetime(2024, 12, 31, 0, 30, tzinfo=timezone.utc))
    assert early.run_requests == [] and "before the first daily partition" in early.skip_message


@pytest.mark.parametrize(
    "target, ingested_days, expected",
    [
        (date(2025, 1, 5), set(), (date(2025, 1, 5), date(2025, 1, 5), None)),
        (date(2025, 1, 5), {date(2025, 1, 4)}, (date(2025, 1, 5), date(2025, 1, 5), None)),
        (date(2025, 1, 5), {date(2025, 1, 1), date(2025, 1, 3)}, (date(2025, 1, 4), date(2025, 1, 5), None)),
        (
            date(2025, 1, 12),
            {date(2025, 1, 1)},
            (date(2025, 1, 6), date(2025, 1, 12), (date(2025, 1, 2), date(2025, 1, 5))),
        ),
    ],
)
def test_plan_tick(target, ingested_days, expected):
    plan = schedules.plan_tick(target, ingested_days)
    assert (plan.first, plan.last, plan.older_gap) == expected
    assert schedules.plan_tick(target, ingested_days | {target}) is None


def test_jobs_schedule_and_sensors_are_wired():
    graph = defs.resolve_asset_graph()
    daily = defs.resolve_job_def("daily_job")
    daily_assets = {k.to_user_string() for k in daily.asset_layer.executable_asset_keys}
    histories = {"raw_profiles", "raw_credit_cards", "card_versions_fg"}  # unpartitioned, refreshed every run
    assert daily_assets == {"raw_transactions", "raw_fraud_labels", "transactions_fg", "transactions_4h_aggs",
                            "fraud_labels_fg", "card_recent_charges_fg", "batch_scores", "shadow_scores",
                            "feature_drift", *histories}
    # The documented CLI backfill (`dagster job execute -j daily_job --partition-range A...B`) needs
    # every daily asset of the job to take a whole range in one run.
    for key in daily.asset_layer.executable_asset_keys:
        if key.to_user_string() in histories:
            assert graph.get(key).partitions_def is None
            continue
        node = graph.get(key)
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
        assert node.partitions_def == daily.partitions_def
    daily_checks = {k.name for k in daily.asset_layer.asset_graph.asset_check_keys}
    assert {"raw_transactions_suite", "raw_fraud_labels_suite"} <= daily_checks
    retrain = defs.resolve_job_def("retrain_job")
    assert {k.to_user_string() for k in retrain.asset_layer.executable_asset_keys} == {
        "fraud_feature_view", "training_dataset", "feature_selection", "model_tuning", "fraud_model", "learning_curve",
        "model_evaluation", "registered_model", "model_importance", "model_fairness"}
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.job_name == "daily_job" and schedule.cron_schedule == "30 0 * * *"
    assert schedule.execution_timezone == "UTC"
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {"new_labels_sensor", "drift_sensor", "decay_sensor", "inbox_sensor",
                            "inbox_refresh_sensor", "failure_reason_sensor", "stale_features_sensor"}
    assert sensors["stale_features_sensor"].job_name == "refresh_job"
    assert sensors["failure_reason_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert all(sensors[n].job_name == "retrain_job" for n in ("new_labels_sensor", "drift_sensor", "decay_sensor"))
    assert graph.get(dg.AssetKey("feature_drift")).group_name == "monitoring"


def test_readme_backfill_command_and_names_match_the_definitions():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Automation"):]
    selected = set(re.search(r"--select '([^']+)'", section).group(1).split(","))
    daily = defs.resolve_job_def("daily_job")
    partitioned = {k.to_user_string() for k in daily.asset_layer.executable_asset_keys
                   if defs.resolve_asset_graph().get(k).partitions_def is not None}
    assert selected == partitioned  # the histories are refreshed by any daily run, not per partition
    assert "--partition-range 2025-01-01...2025-01-31" in section
    for name in ["daily_schedule", "daily_job", "retrain_job", "inbox_ingest_job", "feature_drift",
                 *(s.name for s in defs.sensors)]:
        assert f"`{name}`" in section, name
    for field in ("new_label_days", "psi_threshold", "drift_cooldown_days", "pr_auc_drop", "decay_window_days",
                  "min_positives", "training_window_days"):
        assert f"`{field}`" in section, field
