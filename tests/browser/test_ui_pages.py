"""What the UIs show, read in a real headless Chromium.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them like redis-server; the
test is skipped, saying so, where they are missing). It runs the demo on a small synthetic data
set (10 days, one run), starts `dagster-webserver` and `mlflow ui` on 127.0.0.1 and free ports,
then opens the Overview timeline, an asset's partitions and one day's metadata, the check's
partition view, `model_evaluation`'s plots and MLflow's training runs, asserting on the rendered
text and images. Screenshots are kept under that demo's `$FRAUD_HOME/screenshots/` (its path is
printed; pytest keeps the last runs' temporary folders). About a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.browser.webdriver import Browser, browser, chromium_or_skip
from tests.serving.processes import REPO, _default_signals, free_port, stop

pytestmark = pytest.mark.slow
FIRST, DAYS = date(2025, 1, 1), 10


def _env(home: Path, mlflow_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FRAUD_START_DATE", "FRAUD_CONTRACT", "DAGSTER_HOME")}
    env.update(FRAUD_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), FRAUD_MLFLOW_UI=mlflow_url,
               MLFLOW_DISABLE_TELEMETRY="true", DAGSTER_DISABLE_TELEMETRY="true")
    return env


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode} before answering {url}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).read()
            return
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict]:
    """A materialized demo home, the Dagster webserver and the MLflow UI on 127.0.0.1."""
    chromium_or_skip()
    from fraud_pipelines import contract as contracts

    home = tmp_path_factory.mktemp("ui") / "fraud_home"
    small = contracts.SYNTHETIC.model_copy(update={"start_date": FIRST, "synthetic": contracts.SYNTHETIC.synthetic
                                                   .model_copy(update={"n_cards": 400, "transactions_per_day": 1000,
                                                                       "fraud_rate": 0.02})})
    contracts.store(small, home)
    dagster_port, mlflow_port = free_port(), free_port()
    dagster_url, mlflow_url = f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{mlflow_port}"
    env = _env(home, mlflow_url)
    logs = home / "logs"
    logs.mkdir()
    (home / "dagster").mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster" / "dagster.yaml")  # as `make ui` does
    processes: list[subprocess.Popen] = []
    try:
        yield from _serve(home, env, dagster_url, mlflow_url, dagster_port, mlflow_port, processes)
    finally:
        for process in processes:
            stop(process)


def _serve(home: Path, env: dict, dagster_url: str, mlflow_url: str, dagster_port: int, mlflow_port: int,
           processes: list[subprocess.Popen]) -> Iterator[dict]:
    # The demo first: a webserver starting meanwhile would create the instance's SQLite schema at the
    # same time as the demo's run, and one of the two migrations fails on the shared database.
    demo = subprocess.run([sys.executable, "-m", "fraud_pipelines.cli", "demo", "--days", str(DAYS),
                           "--start", FIRST.isoformat()], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    bin_dir = Path(sys.executable).parent
    processes.append(subprocess.Popen(
        [str(bin_dir / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1",
         "-p", str(dagster_port)], env=env, cwd=REPO, preexec_fn=_default_signals,
        stdout=(home / "logs" / "dagster.log").open("w"), stderr=subprocess.STDOUT))
    processes.append(subprocess.Popen(
        [str(bin_dir / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{home}/mlflow/mlflow.db",
         "--host", "127.0.0.1", "--port", str(mlflow_port)], env=env, cwd=home, preexec_fn=_default_signals,
        stdout=(home / "logs" / "mlflow.log").open("w"), stderr=subprocess.STDOUT))
    _wait_http(f"{dagster_url}/server_info", processes[0])
    _wait_http(f"{mlflow_url}/health", processes[1])
    _graphql(dagster_url, "mutation { setNuxSeen }")  # no "join the community" pop-up over the pages
    shots = home / "screenshots"
    print(f"\nscreenshots: {shots}")
    yield {"home": home, "dagster": dagster_url, "mlflow": mlflow_url, "shots": shots}


@pytest.fixture(scope="module")
def page(servers) -> Iterator[Browser]:
    with browser(1400, 1100) as session:
        yield session


def _day_rows(home: Path, day: str) -> int:
    from deltalake import DeltaTable

    frame = DeltaTable(str(home / "raw" / "transactions")).to_pandas(columns=["datetime"])
    return int((frame["datetime"].dt.strftime("%Y-%m-%d") == day).sum())


def test_overview_timeline_shows_the_demo_run(servers, page):
    page.open(f"{servers['dagster']}/overview/activity/timeline")
    text = page.wait_for_text("fraud_pipelines", "fraud_pipeline_job")
    assert "No runs" not in text
    page.screenshot(servers["shots"] / "timeline.png")


def test_each_partition_shows_its_own_day(servers, page):
    page.open(f"{servers['dagster']}/assets/raw_transactions?view=partitions")
    page.wait_for_text(f"Materialized ({DAYS})", "Failed (0)")
    for day in ("2025-01-03", "2025-01-07"):
        page.open(f"{servers['dagster']}/assets/raw_transactions?view=partitions&partition={day}")
        text = page.wait_for_text("dagster/row_count", "first_event_time", "statistics", "top values")
        shown = text.split("dagster/row_count", 1)[1].split()[0]
        assert int(shown.replace(",", "")) == _day_rows(servers["home"], day), day
        first = text.split("first_event_time", 1)[1].split()[0]
        assert first == day, f"{day}'s partition shows a first event on {first}"
        page.screenshot(servers["shots"] / f"raw_transactions_{day}.png")


def test_the_checks_partition_view_counts_every_day_passed(servers, page):
    page.open(f"{servers['dagster']}/assets/raw_transactions?view=checks")
    page.wait_for_text("raw_transactions_suite", "Latest execution", "Passed")
    page.click_text("Partitions", index=-1)  # the check's own tab, after the asset's
    text = page.wait_for_text(f"Passed ({DAYS})")
    assert "Skipped (0)" in text and "Failed (0)" in text
    page.screenshot(servers["shots"] / "check_partitions.png")


def test_model_evaluation_shows_its_plots_inline(servers, page):
    page.open(f"{servers['dagster']}/assets/model_evaluation")
    page.wait_for_text("plots", "mlflow_run", "pr_auc", "decile")
    deadline = time.monotonic() + 30
    while True:  # the plots are images the MLflow UI serves: each must load, not show its alt text
        images = page.script("return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        loaded = {alt for alt, complete, width in images if complete and width > 100}
        if {"pr_curve", "roc_curve", "confusion_matrix", "feature_importance"} <= loaded:
            break
        assert time.monotonic() < deadline, f"plots not shown inline: {images}"
        time.sleep(0.5)
    assert servers["mlflow"] in page.html()  # the run is a link to the MLflow UI
    page.screenshot(servers["shots"] / "model_evaluation.png")


def test_the_mlflow_link_opens_training_runs_with_metric_columns(servers, page):
    """The experiment's own page opens on MLflow 3.17's GenAI overview whatever its kind tag; the link
    the project gives (`MlflowResource.ui_url()`) opens the training runs with the headline metrics."""
    with urllib.request.urlopen(f"{servers['mlflow']}/api/2.0/mlflow/experiments/get-by-name"
                                "?experiment_name=fraud_model", timeout=30) as response:
        experiment = json.loads(response.read())["experiment"]
    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    page.resize(2200, 1000)  # the runs table renders only the columns in view
    page.open(f"{servers['mlflow']}/#/experiments/{experiment['experiment_id']}/runs"
              "?viewStateShareKey=fraud_training_runs")
    text = page.wait_for_text("Training runs", "xgboost td1", "Sort: test_pr_auc", "test_recall_at_1pct_fpr",
                              "baseline_test_pr_auc")
    assert "Detect Issues" not in text
    page.screenshot(servers["shots"] / "mlflow_runs.png")


def test_a_day_whose_check_fails_shows_failed(servers, page, monkeypatch):
    """Rows changed behind the pipeline's back on one day: re-running the check marks that day
    failed in the check's partition view, the other days stay passed. (Runs last: it changes data.)"""
    import dagster as dg

    from fraud_pipelines.raw.assets import raw_transactions
    from fraud_pipelines.raw.checks import raw_transactions_suite
    from fraud_pipelines.resources import RawSourceResource, StorageResource
    from fraud_pipelines.tables import day_window

    monkeypatch.setenv("FRAUD_HOME", str(servers["home"]))
    monkeypatch.setenv("DAGSTER_HOME", str(servers["home"] / "dagster"))
    table = StorageResource().raw_table("transactions")
    bad = date(2025, 1, 4)
    rows = table.read(*day_window(bad))
    rows.loc[rows.index[0], "amount"] = -5.0
    table.replace_days(rows, [bad])
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([raw_transactions, raw_transactions_suite], instance=instance, raise_on_error=False,
                                resources={"storage": StorageResource(), "raw_source": RawSourceResource()},
                                selection=dg.AssetSelection.checks(raw_transactions_suite),
                                tags={"dagster/asset_partition_range_start": FIRST.isoformat(),
                                      "dagster/asset_partition_range_end": "2025-01-10"})
    assert not result.success
    page.open(f"{servers['dagster']}/assets/raw_transactions?view=checks")
    page.wait_for_text("raw_transactions_suite", "Latest execution")
    page.click_text("Partitions", index=-1)
    text = page.wait_for_text(f"Passed ({DAYS - 1})", "Failed (1)")
    assert "Skipped (0)" in text
    page.screenshot(servers["shots"] / "check_partitions_one_failed.png")
    # The rows of that day were published by a run that audited them: the asset's own partition
    # status stays "materialized" (Dagster 1.13 has no user event that fails a partition after the
    # fact); the check's view above is where a later failure shows.
    page.open(f"{servers['dagster']}/assets/raw_transactions?view=partitions")
    page.wait_for_text(f"Materialized ({DAYS})")
    page.screenshot(servers["shots"] / "asset_partitions_after_failed_check.png")
