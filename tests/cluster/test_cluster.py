"""Past one machine, proven: `fraud_pipeline_job` over six days on PostgreSQL (Dagster's storage and the
MLflow server's), a queued run coordinator with one-writer pools, Celery (two workers, a Redis broker),
Delta tables and step outputs on S3 (moto), an MLflow tracking server and a 3-node Redis Cluster as the
online store, all configured by environment and dagster.yaml only. Its tables, training splits, scores,
registry and online vectors equal those of the same job on the embedded defaults.

Runs only with FRAUD_TEST_CLUSTER=1 (`make test-cluster`, which installs the `cluster` extra).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from serving.processes import redis_cluster, redis_server

from cluster import services

DAYS = [f"2025-01-0{d}" for d in range(1, 7)]
FIRST, LAST = DAYS[0], DAYS[-1]
SMALL = {"n_cards": 400, "transactions_per_day": 1_200, "horizon_days": 20, "seed": 5, "fraud_rate": 0.02}
RUN_CONFIG = {"resources": {"raw_source": {"config": SMALL}}}
RAW = ["raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards"]
KEYS = {"transactions": ["tid"], "fraud_labels": ["tid"], "profiles": ["cc_num", "event_time"],
        "credit_cards": ["cc_num", "event_time"]}
BUCKET = "fraud"
S3 = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
      "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
# Phase 0 fans out: the raw days in two concurrent runs, and a third run writing day 3 again at the same
# time (the pools serialize the writers of each table). Phase 1 runs the whole graph over the six days as
# one run whose steps go to the Celery workers.
PLAN = {"phases": [[{"name": "raw 1-3", "first": DAYS[0], "last": DAYS[2], "assets": RAW},
                    {"name": "raw 4-6", "first": DAYS[3], "last": DAYS[5], "assets": RAW},
                    {"name": "raw 3 again", "first": DAYS[2], "last": DAYS[2], "assets": RAW[:2]}],
                   [{"name": "graph 1-6", "first": FIRST, "last": LAST}]],
        "run_config": RUN_CONFIG, "timeout": 900}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Any:
    """Both runs done: the embedded reference and the cluster; yields where each put its data."""
    base = tmp_path_factory.mktemp("cluster")
    reference = base / "embedded"
    logs = base / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:  # every service stops, pass or fail, even if a later one fails to start
        # The reference: the same job on the embedded defaults, in its own process while the cluster starts.
        embedded_env = {"FRAUD_HOME": str(reference), "DAGSTER_HOME": str(reference / "dagster"),
                        "FRAUD_START_DATE": FIRST}
        embedded = stack.enter_context(services.background(
            [sys.executable, "-c", EMBEDDED_RUN, json.dumps(RUN_CONFIG), FIRST, LAST], embedded_env,
            logs / "embedded.log", long_running=False))
        pg = stack.enter_context(services.postgres(("dagster", "mlflow")))
        endpoint = stack.enter_context(services.moto_s3(logs / "moto.log", (BUCKET, "mlflow")))
        broker = stack.enter_context(redis_server(base / "redis"))
        online = stack.enter_context(redis_cluster(base / "redis-cluster"))
        s3 = {**S3, "AWS_ENDPOINT_URL": endpoint}
        tracking = stack.enter_context(services.mlflow_server(
            f"{pg}/mlflow", "s3://mlflow/artifacts", {**s3, "MLFLOW_S3_ENDPOINT_URL": endpoint},
            logs / "mlflow.log"))
        dagster_home = base / "dagster_home"
        dagster_home.mkdir()
        shutil.copyfile(services.REPO / "deploy" / "cluster" / "dagster.yaml", dagster_home / "dagster.yaml")
        env = {**s3, "FRAUD_HOME": f"s3://{BUCKET}/home", "FRAUD_LOCAL_HOME": str(base / "local"),
               "FRAUD_ONLINE_STORE": "redis", "FRAUD_REDIS_URL": online, "MLFLOW_TRACKING_URI": tracking,
               "FRAUD_IO_MANAGER_URI": f"s3://{BUCKET}/dagster-io", "FRAUD_EXECUTOR": "celery",
               "FRAUD_CELERY_BROKER": broker[:-1] + "1", "FRAUD_CELERY_BACKEND": broker[:-1] + "2",
               "DAGSTER_HOME": str(dagster_home), "FRAUD_DAGSTER_POSTGRES_URL": f"{pg}/dagster",
               "PYTHONPATH": str(services.REPO)}
        celery_config = base / "celery_config"
        celery_config.mkdir()
        (celery_config / "dagster_celery_config.py").write_text(
            f"broker_url = {env['FRAUD_CELERY_BROKER']!r}\nresult_backend = {env['FRAUD_CELERY_BACKEND']!r}\n")
        for name in ("worker1", "worker2"):
            stack.enter_context(services.celery_worker(name, env, celery_config, logs / f"{name}.log"))
        stack.enter_context(services.dagster_daemon(env, logs / "daemon.log"))
        services.wait_until_healthy(tracking, f"mlflow server (log: {logs / 'mlflow.log'})")
        driver = subprocess.run([sys.executable, str(Path(__file__).with_name("driver.py")), json.dumps(PLAN)],
                                cwd=services.REPO, env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=1_200, preexec_fn=services._default_signals)
        assert driver.returncode == 0, f"driver failed: {driver.stderr[-2000:]}"
        assert embedded.wait(timeout=900) == 0, f"the embedded reference run failed (log: {logs / 'embedded.log'})"
        yield {"reference": str(reference), "runs": json.loads(driver.stdout.strip().splitlines()[-1]),
               "postgres": pg, "endpoint": endpoint, "online": online, "tracking": tracking, "logs": logs,
               "options": {**s3, "AWS_ENDPOINT_URL": endpoint}}


EMBEDDED_RUN = """
import json, sys
import dagster as dg
from fraud_pipelines.definitions import defs
with dg.instance_for_test() as instance:
    result = defs.resolve_job_def("fraud_pipeline_job").execute_in_process(
        run_config=json.loads(sys.argv[1]), instance=instance, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": sys.argv[2], "dagster/asset_partition_range_end": sys.argv[3]})
sys.exit(0 if result.success else 1)
"""


def _storage(world: dict, which: str):
    from fraud_pipelines.storage import Storage

    if which == "embedded":
        return Storage(world["reference"], {}, "sqlite")
    return Storage(f"s3://{BUCKET}/home", world["options"], "redis", world["online"])


def _sorted(frame, keys: list[str]) -> pa.Table:
    table = pa.Table.from_pandas(frame.sort_values(keys, kind="stable").reset_index(drop=True), preserve_index=False)
    return table.replace_schema_metadata(None)


def _postgres_rows(world: dict, sql: str) -> list[tuple]:
    import psycopg2

    url = world["postgres"].replace("postgresql+psycopg2://", "postgresql://") + "/dagster"
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_every_run_succeeded_in_postgres(world):
    runs = {r["run_id"]: r for r in world["runs"]}
    assert [r["name"] for r in world["runs"]] == ["raw 1-3", "raw 4-6", "raw 3 again", "graph 1-6"], world["runs"]
    stored = dict(_postgres_rows(world, "SELECT run_id, status FROM runs"))
    assert stored == {run_id: "SUCCESS" for run_id in runs}, f"runs in Postgres: {stored}; logs in {world['logs']}"
    events = _postgres_rows(world, "SELECT event FROM event_logs WHERE event LIKE '%Celery worker%'")
    hosts = set(re.findall(r"worker[12]@", " ".join(text for (text,) in events)))
    assert hosts == {"worker1@", "worker2@"}, f"steps ran on {hosts or 'no Celery worker'}"


def test_the_pools_kept_one_writer_per_table(world):
    """The three fan-out runs overlapped, yet no two of their steps wrote the same table at once."""
    names = {r["run_id"]: r["name"] for r in world["runs"] if r["phase"] == "0"}
    rows = _postgres_rows(world, "SELECT run_id, step_key, dagster_event_type, timestamp FROM event_logs "
                                 "WHERE dagster_event_type IN ('STEP_START', 'STEP_SUCCESS') ORDER BY id")
    spans: dict[str, list] = defaultdict(list)
    started: dict[tuple, Any] = {}
    for run_id, step, kind, when in rows:
        if run_id not in names or step not in RAW:
            continue
        if kind == "STEP_START":
            started[(run_id, step)] = when
        else:
            spans[step].append((started[(run_id, step)], when, names[run_id]))
    assert len(spans["raw_transactions"]) == 3 and len(spans["raw_fraud_labels"]) == 3
    run_spans = _postgres_rows(world, "SELECT run_id, start_time, end_time FROM runs")
    run_spans = [(start, end) for run_id, start, end in run_spans if run_id in names]
    assert len(run_spans) == 3 and any(a[0] < b[1] and b[0] < a[1] for a in run_spans for b in run_spans if a != b), \
        f"the fan-out runs never overlapped: {run_spans}"
    for step, intervals in spans.items():
        intervals.sort()
        for (_, end, one), (start, _, other) in zip(intervals, intervals[1:]):
            assert end <= start, f"{step}: runs {one!r} and {other!r} wrote at the same time"


def test_every_delta_log_is_contiguous(world):
    import boto3

    client = boto3.client("s3", endpoint_url=world["endpoint"], aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    versions: dict[str, list[int]] = defaultdict(list)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="home/"):
        for item in page.get("Contents", []):
            found = re.fullmatch(r"(.+)/_delta_log/(\d{20})\.json", item["Key"])
            if found:
                versions[found.group(1)].append(int(found.group(2)))
    expected = {"home/raw/transactions", "home/raw/fraud_labels", "home/raw/profiles", "home/raw/credit_cards",
                "home/scores/batch_scores"}
    assert expected <= set(versions), sorted(versions)
    assert len(versions) >= 10, sorted(versions)  # feature groups and training data too
    for table, numbers in versions.items():
        assert sorted(numbers) == list(range(len(numbers))), f"{table}: Delta versions {sorted(numbers)}"
    assert len(versions["home/raw/transactions"]) == 4  # 1-3, 4-6, day 3 again, 1-6: no commit lost


def test_raw_tables_equal_the_embedded_run(world):
    embedded, cluster = _storage(world, "embedded"), _storage(world, "cluster")
    for name, keys in KEYS.items():
        ours, theirs = cluster.raw_table(name).read(), embedded.raw_table(name).read()
        assert len(ours) > 0 and _sorted(ours, keys).equals(_sorted(theirs, keys)), f"raw {name} differs"
    assert not cluster.raw_table("transactions").read()["tid"].duplicated().any()


def test_feature_groups_training_splits_and_scores_equal_the_embedded_run(world):
    from fraud_pipelines.features import groups
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.scoring.assets import scores_table
    from fraud_pipelines.serving import groups as serving_groups
    from fraud_pipelines.training import fraud_view

    stores = {which: _storage(world, which).feature_store() for which in ("embedded", "cluster")}
    for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS,
                 serving_groups.CARD_RECENT_CHARGES, serving_groups.CARD_VERSIONS):
        keys = list(spec.primary_key) + ([spec.event_time] if spec.primary_key == ("cc_num",) else [])
        ours, theirs = (_sorted(spec.get_or_create(stores[w]).read(), keys) for w in ("cluster", "embedded"))
        assert ours.num_rows > 0 and ours.equals(theirs), f"feature group {spec.name} differs"

    views = {w: fraud_view.get_or_create(fs) for w, fs in stores.items()}
    splits = {}
    for which, view in views.items():
        parts = view.get_train_validation_test_split(1, primary_key=True, event_time=True)
        splits[which] = [_sorted(pd.concat([x, y], axis=1), ["tid"]) for x, y in zip(parts[:3], parts[3:])]
    for name, ours, theirs in zip(("train", "validation", "test"), splits["cluster"], splits["embedded"]):
        assert ours.num_rows > 0 and ours.equals(theirs), f"training split {name} differs"
    audit = views["cluster"].get_training_dataset(1).leakage_audit
    assert audit and all(v is None or v <= 0 for split in audit.values() for v in split.values()), audit

    resources = {"embedded": StorageResource(root=world["reference"]),
                 "cluster": StorageResource(root=f"s3://{BUCKET}/home", storage_options=world["options"])}
    ours, theirs = (_sorted(scores_table(resources[w]).read(), ["tid"]) for w in ("cluster", "embedded"))
    assert ours.num_rows > 0 and ours.equals(theirs), "batch_scores differ"
    assert len(scores_table(resources["cluster"]).days()) == len(DAYS)


def test_champion_on_the_server_and_online_vectors_equal_sqlite(world):
    from fraud_pipelines.features import groups as feature_groups
    from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES, CARD_VERSIONS
    from fraud_pipelines.training.registry import ModelRegistry

    server = ModelRegistry(tracking_uri=world["tracking"])
    assert server.champion_version() == "1"
    assert server.client().get_model_version_by_alias("fraud_model", "champion").version == "1"

    # The service builds a charge's vector from its card's state (the two groups below), never from a
    # charge's stored features: the tid-keyed groups keep no online copy on either setup.
    stores = {which: _storage(world, which).feature_store() for which in ("embedded", "cluster")}
    tid_keyed = (feature_groups.TRANSACTIONS, feature_groups.TRANSACTIONS_4H_AGGS)
    assert not any(spec.get_or_create(fs).online_enabled for fs in stores.values() for spec in tid_keyed)

    cards = [(c,) for c in sorted(set(_storage(world, "embedded").raw_table("transactions").read()["cc_num"]))]
    for spec in (CARD_RECENT_CHARGES, CARD_VERSIONS):
        states = {}
        for which, fs in stores.items():
            table = spec.get_or_create(fs).online_table()
            columns = [c for c in table.schema.names if c not in table.key_columns]
            states[which] = fs.online_store.read(table, cards, columns)
        assert sum(s is not None for s in states["cluster"]) > 0 and states["cluster"] == states["embedded"], spec.name
