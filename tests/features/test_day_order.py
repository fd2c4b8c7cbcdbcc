"""Days are built in order: a day whose previous day has no features is refused, naming that day;
a raw day replaced through the landing path, or a feature day rebuilt alone, leaves the later days
out of date until `stale_features_sensor`'s refresh rebuilds them, equal to a clean in-order run."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd

from fraud_pipelines.automation.jobs import RANGE_END_TAG, RANGE_START_TAG
from fraud_pipelines.automation.staleness import stale_features_sensor
from fraud_pipelines.features import day_lineage, groups
from fraud_pipelines.features.assets import FEATURE_ASSETS, transactions_4h_aggs, transactions_fg
from fraud_pipelines.raw.assets import RAW_ASSETS, raw_transactions
from fraud_pipelines.resources import RawSourceResource, StorageResource
from fraud_pipelines.settings import start_date

SMALL = dict(n_cards=600, transactions_per_day=400, horizon_days=8, seed=19, fraud_rate=0.01)
CHAIN = [transactions_fg, transactions_4h_aggs]
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def materialize(assets, *, partition_key=None, partition_range=None, raw_source=None, tags=None, ok=True):
    tags = dict(tags or {})
    if partition_range:
        tags.update(dict(zip(RANGE, partition_range)))
    result = dg.materialize(assets, partition_key=partition_key, tags=tags, raise_on_error=False,
                            resources={"storage": StorageResource(),
                                       "raw_source": raw_source or RawSourceResource(**SMALL)})
    assert result.success is ok, result
    return result


def failure_text(result) -> str:
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    data = failure.event_specific_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def features() -> dict[str, pd.DataFrame]:
    fs = StorageResource().feature_store()
    return {spec.name: spec.get_or_create(fs).read().sort_values("tid").reset_index(drop=True)
            for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS)}


def assert_same_bits(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for name in left:
        a, b = left[name], right[name]
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for column in a.columns:
            if a[column].dtype == np.float64:
                assert np.array_equal(a[column].to_numpy().view(np.int64), b[column].to_numpy().view(np.int64)), column


def stale() -> dict:
    return day_lineage.stale_days(StorageResource(), start_date())


def sensor_request(instance):
    with dg.build_sensor_context(instance=instance, resources={"storage": StorageResource()}) as context:
        return stale_features_sensor(context)


def in_order(home, monkeypatch, days=("2025-01-01", "2025-01-03")) -> dict[str, pd.DataFrame]:
    monkeypatch.setenv("FRAUD_HOME", str(home))
    materialize([*RAW_ASSETS, *FEATURE_ASSETS], partition_range=days)
    return features()


def test_a_day_whose_previous_day_is_missing_is_refused_then_built_in_order_equals(tmp_path, monkeypatch):
    ordered = in_order(tmp_path / "ordered", monkeypatch)

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "shuffled"))
    materialize(RAW_ASSETS, partition_range=("2025-01-01", "2025-01-03"))
    materialize(CHAIN, partition_key="2025-01-01")
    refused = materialize(CHAIN, partition_key="2025-01-03", ok=False)
    message = failure_text(refused)
    assert "2025-01-02" in message and "transactions_fg" in message and len(message) < 2_000
    stored = groups.TRANSACTIONS.get_or_create(StorageResource().feature_store()).read()
    assert stored["datetime"].max() < pd.Timestamp("2025-01-02", tz="UTC")  # nothing of 01-03 was written
    # The window group alone is refused too when a transactions day it reads is missing.
    assert "2025-01-02" in failure_text(materialize([transactions_4h_aggs], partition_key="2025-01-02", ok=False))

    materialize(CHAIN, partition_key="2025-01-02")
    materialize(CHAIN, partition_key="2025-01-03")
    assert stale() == {}
    assert_same_bits(ordered, features())


def test_a_feature_day_rebuilt_alone_marks_later_days_until_the_sensor_rebuilds_them(tmp_path, monkeypatch):
    ordered = in_order(tmp_path / "ordered", monkeypatch)
    instance = dg.DagsterInstance.ephemeral()
    assert isinstance(sensor_request(instance), dg.SkipReason)

    materialize([transactions_fg], partition_key="2025-01-02")  # a new Delta version of 01-02
    found = stale()
    assert set(found) == {("transactions_fg", date(2025, 1, 3)), ("transactions_4h_aggs", date(2025, 1, 2)),
                          ("transactions_4h_aggs", date(2025, 1, 3))}
    assert "2025-01-02, which it read, was rebuilt" in found[("transactions_fg", date(2025, 1, 3))]
    # Nothing is built on an out-of-date day.
    assert "out of date" in failure_text(materialize(CHAIN, partition_key="2025-01-04", ok=False))

    request = sensor_request(instance)
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-03")
    materialize(CHAIN, tags=request.tags)
    assert stale() == {}
    assert isinstance(sensor_request(instance), dg.SkipReason)
    assert_same_bits(ordered, features())


def changed_day_file(folder, day: str):
    """The stored raw day moved 0.7 degrees east, as a landing file in our own shape."""
    start = pd.Timestamp(day, tz="UTC")
    rows = StorageResource().raw_table("transactions").read(start.to_pydatetime(),
                                                            (start + pd.Timedelta(days=1)).to_pydatetime())
    rows["longitude"] = rows["longitude"] + 0.7
    (folder / "transactions").mkdir(parents=True, exist_ok=True)
    rows.to_parquet(folder / "transactions" / f"{day}.parquet", index=False)
    return folder


def test_a_raw_day_replaced_through_the_landing_path_rebuilds_later_days_as_in_order(tmp_path, monkeypatch):
    days = ("2025-01-01", "2025-01-04")
    files = RawSourceResource(kind="files", landing_dir=str(tmp_path / "landing"))

    # The clean run: raw days, the replacement of 01-02 through the landing path, then features in order.
    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "clean"))
    materialize(RAW_ASSETS, partition_range=days)
    changed_day_file(tmp_path / "landing", "2025-01-02")
    materialize([raw_transactions], partition_key="2025-01-02", raw_source=files)
    materialize(FEATURE_ASSETS, partition_range=days)
    clean = features()

    # Production: every day built, then 01-02 replaced through the landing path afterwards.
    before = in_order(tmp_path / "prod", monkeypatch, days)
    instance = dg.DagsterInstance.ephemeral()
    materialize([raw_transactions], partition_key="2025-01-02", raw_source=files)
    assert ("transactions_fg", date(2025, 1, 2)) in stale()
    request = sensor_request(instance)
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-04")
    assert "raw transactions of 2025-01-02 were replaced" in request.tags["fraud/reason"]
    materialize(FEATURE_ASSETS, tags=request.tags)
    assert stale() == {}
    after = features()
    assert_same_bits(clean, after)
    # The replacement mattered beyond its own day: the first charges of 01-03 read 01-02's.
    day3 = pd.Timestamp("2025-01-03", tz="UTC")
    old, new = (f["transactions"][f["transactions"]["datetime"] >= day3] for f in (before, after))
    assert (old["loc_delta_t_minus_1"].to_numpy() != new["loc_delta_t_minus_1"].to_numpy()).any()


def _builds(asset, stamps, inputs):
    return {date(2025, 1, d): day_lineage.DayBuild(asset, date(2025, 1, d), stamp, inputs[d])
            for d, stamp in stamps.items()}


def test_out_of_date_propagates_to_every_later_day_that_read_a_changed_one():
    first = date(2025, 1, 1)
    raw = {date(2025, 1, d): f"r{d}" for d in (1, 2, 3, 4)}
    inputs = {1: {"raw": "r1", "previous": None}, 2: {"raw": "r2", "previous": "10"},
              3: {"raw": "r3", "previous": "11"}, 4: {"raw": "r4", "previous": "12"}}
    tx = _builds("transactions_fg", {1: 10, 2: 11, 3: 12, 4: 13}, inputs)
    windows = _builds("transactions_4h_aggs", {1: 20, 2: 21},
                      {1: {"same": "10", "previous": None}, 2: {"same": "11", "previous": "10"}})
    assert day_lineage.out_of_date(tx, windows, raw, first) == {}
    changed = day_lineage.out_of_date(tx, windows, {**raw, date(2025, 1, 2): "r2-new"}, first)
    assert set(changed) == {("transactions_fg", date(2025, 1, d)) for d in (2, 3, 4)} | {
        ("transactions_4h_aggs", date(2025, 1, 2))}
    assert "raw transactions of 2025-01-02 were replaced" in changed[("transactions_fg", date(2025, 1, 2))]
    assert "2025-01-03, which it read, is out of date" in changed[("transactions_fg", date(2025, 1, 4))]
    assert day_lineage.first_out_of_date(changed)[0] == date(2025, 1, 2)
    del tx[date(2025, 1, 2)]  # a hole: the day after it read something that is no longer there
    assert "2025-01-02, which it read, is missing" in day_lineage.out_of_date(tx, {}, raw, first)[
        ("transactions_fg", date(2025, 1, 3))]


def test_an_inbox_file_is_rebuilt_once_by_its_own_refresh_not_also_by_the_stale_sensor(tmp_path, monkeypatch):
    """A raw day replaced through the inbox leaves later days out of date; `inbox_refresh_sensor`
    rebuilds them, and `stale_features_sensor` waits for that refresh instead of asking for a second
    run over the same days (two writers of the same feature days side by side). If no refresh is
    requested within the grace period, the stale sensor rebuilds the days itself."""
    import os
    import time

    from fraud_pipelines.automation import inbox, staleness
    from fraud_pipelines.automation.jobs import inbox_ingest_job
    from fraud_pipelines.automation.run_sensors import inbox_refresh_sensor
    from fraud_pipelines.automation.sensors import INBOX_SETTLE_SECONDS, inbox_sensor

    monkeypatch.setenv("FRAUD_HOME", str(tmp_path / "prod"))
    with dg.instance_for_test() as instance:
        resources = {"storage": StorageResource(), "raw_source": RawSourceResource(**SMALL)}
        assert dg.materialize([*RAW_ASSETS, *FEATURE_ASSETS], instance=instance, resources=resources,
                              tags=dict(zip(RANGE, ("2025-01-01", "2025-01-03")))).success
        changed_day_file(inbox.inbox_dir(), "2025-01-02")
        past = time.time() - INBOX_SETTLE_SECONDS - 1
        os.utime(inbox.inbox_dir() / "transactions" / "2025-01-02.parquet", (past, past))
        [request] = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).run_requests
        ingested = inbox_ingest_job.execute_in_process(run_config=request.run_config, tags=request.tags,
                                                       instance=instance, resources={"storage": StorageResource()})
        assert ("transactions_fg", date(2025, 1, 3)) in stale()

        waiting = sensor_request(instance)  # the inbox run's own refresh is due: no second request
        assert isinstance(waiting, dg.SkipReason) and ingested.run_id[:8] in waiting.skip_message
        context = dg.build_run_status_sensor_context(
            sensor_name="inbox_refresh_sensor", dagster_event=ingested.get_run_success_event(),
            dagster_instance=instance, dagster_run=ingested.dagster_run)
        refresh = inbox_refresh_sensor(context)
        assert (refresh.tags[RANGE_START_TAG], refresh.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-03")

        # Nobody answered within the grace period (the refresh sensor off): the stale sensor takes over.
        grace = staleness.INBOX_REFRESH_GRACE_SECONDS
        monkeypatch.setattr(staleness, "INBOX_REFRESH_GRACE_SECONDS", 0)
        own = sensor_request(instance)
        assert isinstance(own, dg.RunRequest)
        assert (own.tags[RANGE_START_TAG], own.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-03")
        monkeypatch.setattr(staleness, "INBOX_REFRESH_GRACE_SECONDS", grace)

        # The refresh requested and run (the daemon tags it with its run key): then staleness is judged.
        dg.materialize(FEATURE_ASSETS, instance=instance, resources={"storage": StorageResource()},
                       tags={**refresh.tags, staleness.RUN_KEY_TAG: refresh.run_key})
        assert stale() == {}
        done = sensor_request(instance)
        assert isinstance(done, dg.SkipReason) and "every stored feature day matches" in done.skip_message
