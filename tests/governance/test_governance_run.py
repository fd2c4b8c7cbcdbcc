"""The governance assets on the real Dagster graph and small synthetic data: a second registered
version in shadow scores every charge into `shadow_scores` with its own version while the
champion's decisions stay exactly as they are; the competition, value, fairness and importance
assets report numbers equal to direct computations on the stored tables and store them with the
version in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fraud_pipelines.features import groups
from fraud_pipelines.governance.assets import GOVERNANCE_ASSETS, value_table
from fraud_pipelines.governance.challenger import challenger_version, clear_challenger, set_challenger
from fraud_pipelines.scoring.shadow import SHADOW_ASSETS
from fraud_pipelines.scoring.tables import scores_table, shadow_table
from tests.serving.conftest import EVERYTHING, FIRST, LAST, SMALL, Home

ALL = [*EVERYTHING, *SHADOW_ASSETS, *GOVERNANCE_ASSETS]
RANGE = {"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST}


def run(home: Home, names: list[str], *, run_config=None, partitioned: bool = False) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL, instance=instance, selection=names, run_config=run_config,
                                resources={"storage": home.storage, "raw_source": SMALL, "mlflow": home.mlflow},
                                tags=RANGE if partitioned else None, raise_on_error=True)
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}  # a range's last day


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Home, str, str]:
    """The whole graph once (champion v1), then a second, smaller model registered (v2); the
    version that is not champion goes in shadow. (home, champion, challenger)."""
    home = Home(tmp_path_factory.mktemp("governance") / "fraud_home")
    home.path.mkdir()
    with dg.instance_for_test() as instance:
        first = dg.materialize(ALL, instance=instance, tags=RANGE,
                               resources={"storage": home.storage, "raw_source": SMALL, "mlflow": home.mlflow})
    assert first.success and home.mlflow.champion_version() == "1"
    assert metadata(first, "shadow_scores")["challenger_version"] is None  # nothing in shadow yet
    training = ["training_dataset", "feature_selection", "model_tuning", "fraud_model", "model_evaluation",
                "registered_model"]
    run(home, training, run_config={"ops": {"fraud_model": {"config": {"max_depth": 2, "seed": 3,
                                                                      "n_estimators": 30}}}})
    champion = home.mlflow.champion_version()
    challenger = "1" if champion == "2" else "2"
    set_challenger(home.mlflow, challenger, "smaller model, scored in shadow")
    return home, champion, challenger


@pytest.fixture(scope="module")
def shadowed(world) -> tuple[Home, str, str]:
    """The world after the daily scoring assets ran with the challenger in shadow."""
    run(world[0], ["batch_scores", "shadow_scores"], partitioned=True)
    return world


def test_the_champion_cannot_be_its_own_challenger(world):
    home, champion, challenger = world
    with pytest.raises(ValueError, match="is the champion"):
        set_challenger(home.mlflow, champion, "test")
    with pytest.raises(ValueError, match=r"v9 is not a registered version of 'fraud_model' \(registered: 1, 2\)"):
        set_challenger(home.mlflow, "9", "test")
    assert challenger_version(home.mlflow) == challenger


def test_shadow_scores_carry_the_challengers_version_and_never_affect_decisions(shadowed):
    home, champion, challenger = shadowed
    with_shadow = scores_table(home.storage).read()
    shadow = shadow_table(home.storage).read()
    assert set(shadow["model_version"]) == {challenger} and set(shadow["champion_version"]) == {champion}
    assert set(with_shadow["model_version"]) == {champion}
    assert sorted(shadow["tid"]) == sorted(with_shadow["tid"])
    joined = with_shadow.merge(shadow, on="tid", suffixes=("", "_shadow"))
    assert not np.array_equal(joined["fraud_score"], joined["fraud_score_shadow"])  # a different model scored
    alerted = shadow["decision"] == 1
    assert alerted.any() and all(len(json.loads(r)) == 3 for r in shadow.loc[alerted, "reasons"])
    assert shadow.loc[~alerted, "reasons"].isna().all()  # by default only alerts carry reason codes

    clear_challenger(home.mlflow, "compare without a shadow")
    try:
        run(home, ["batch_scores", "shadow_scores"], partitioned=True)
        without_shadow = scores_table(home.storage).read()
    finally:
        set_challenger(home.mlflow, challenger, "back in shadow")
    pd.testing.assert_frame_equal(with_shadow, without_shadow)  # same scores, decisions and reasons
    assert shadow_table(home.storage).read().equals(shadow)  # with nothing in shadow, nothing changes


def _labelled(home: Home, table) -> pd.DataFrame:
    labels = groups.FRAUD_LABELS.get_or_create(home.storage.feature_store()).read(columns=["tid", "is_fraud"])
    return table.read().merge(labels, on="tid")


def test_competition_compares_both_versions_on_the_same_labelled_charges(shadowed):
    home, champion, challenger = shadowed
    reported = metadata(run(home, ["model_competition"], run_config={"ops": {"model_competition": {"config": {
        "n_resamples": 200}}}}), "model_competition")
    assert (reported["champion_version"], reported["challenger_version"]) == (champion, challenger)
    champ, chall = _labelled(home, scores_table(home.storage)), _labelled(home, shadow_table(home.storage))
    both = champ.merge(chall[["tid", "fraud_score", "decision"]], on="tid", suffixes=("", "_challenger"))
    assert reported["rows"] == len(both) and reported["positives"] == both["is_fraud"].sum() > 0
    expected = (average_precision_score(both["is_fraud"], both["fraud_score_challenger"])
                - average_precision_score(both["is_fraud"], both["fraud_score"]))
    assert reported["pr_auc_difference"] == pytest.approx(expected)
    assert reported["ci_low"] <= reported["ci_high"]
    assert "promotion stays the registry's rule" in reported["verdict"]
    assert home.mlflow.champion_version() == champion  # a report, not a promotion
    tags = home.mlflow.version_tags(challenger)
    assert tags["competition.verdict"] == reported["verdict"]


def test_value_per_version_and_day_equals_a_direct_computation(shadowed):
    home, champion, challenger = shadowed
    reported = metadata(run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {
        "review_cost": 7.5}}}}), "model_value")
    stored = value_table(home.storage).read()
    assert set(zip(stored["role"], stored["model_version"])) == {("champion", champion), ("challenger", challenger)}
    amounts = groups.TRANSACTIONS.get_or_create(home.storage.feature_store()).read(columns=["tid", "amount"])
    champ = _labelled(home, scores_table(home.storage)).merge(amounts, on="tid")
    champ["day"] = champ["datetime"].dt.strftime("%Y-%m-%d")
    day = sorted(champ["day"].unique())[3]
    part = champ[champ["day"] == day]
    row = stored[(stored["role"] == "champion") & (stored["day"] == day)].iloc[0]
    caught = part.loc[(part.decision == 1) & (part.is_fraud == 1), "amount"].sum()
    false_alerts = int(((part.decision == 1) & (part.is_fraud == 0)).sum())
    assert row["fraud_amount_caught"] == pytest.approx(caught)
    assert row["fraud_amount_missed"] == pytest.approx(part.loc[(part.decision == 0) & (part.is_fraud == 1),
                                                                "amount"].sum())
    assert row["false_alerts"] == false_alerts and row["net_value"] == pytest.approx(caught - 7.5 * false_alerts)
    assert reported["review_cost"] == 7.5 and reported["plot_net_value"].startswith("![net value per day](data:")


def test_value_recomputes_only_the_latest_days_and_keeps_the_stored_others(shadowed):
    home, _, _ = shadowed
    table = value_table(home.storage)
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {"review_cost": 7.5, "days": 0}}}})
    full = table.read()
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {"review_cost": 7.5, "days": 2}}}})
    pd.testing.assert_frame_equal(table.read(), full)  # two days read again, the same result
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {"review_cost": 100.0, "days": 2}}}})
    after = table.read()
    last_two = sorted(full["day"].unique())[-2:]
    older = ~full["day"].isin(last_two)
    pd.testing.assert_frame_equal(after[older.to_numpy()], full[older])  # older days keep their stored rows
    recent = after[after["day"].isin(last_two)]
    assert len(recent) == (~older).sum() and (recent["review_cost"] == recent["false_alerts"] * 100.0).all()


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_fairness_slices_are_stored_with_the_version_and_warn_beyond_the_ratio(world, tmp_path):
    home, champion, _ = world
    strict = run(home, ["model_fairness"], run_config={"ops": {"model_fairness": {"config": {
        "version": champion, "max_ratio": 1.0, "min_rows": 1, "min_positives": 1}}}})
    check = _check(strict)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN  # warned; the run succeeded
    # No limit passes, even where one group's rate is 0 and another's is not (an infinite ratio).
    lenient = run(home, ["model_fairness"], run_config={"ops": {"model_fairness": {"config": {
        "version": champion, "max_ratio": float("inf"), "min_rows": 1, "min_positives": 1}}}})
    assert _check(lenient).passed
    reported = metadata(lenient, "model_fairness")
    client = home.mlflow.client()
    run_id = client.get_model_version(home.mlflow.registered_model_name, champion).run_id
    stored = json.loads(Path(client.download_artifacts(run_id, "governance/fairness.json", str(tmp_path))).read_text())
    groups_seen = {(s["attribute"], s["group"]) for s in stored["slices"]}
    assert {("sex", "F"), ("sex", "M")} <= groups_seen and any(a == "age_band" for a, _ in groups_seen)
    tagged = float(home.mlflow.version_tags(champion)["fairness.max_disparity"])
    assert reported["max_disparity"] == pytest.approx(tagged, rel=1e-3)
    assert sum(s["rows"] for s in stored["slices"] if s["attribute"] == "sex") == reported["rows"]


def test_global_importance_is_logged_per_version(world):
    home, champion, _ = world
    reported = metadata(run(home, ["model_importance"], run_config={"ops": {"model_importance": {"config": {
        "version": champion}}}}), "model_importance")
    client = home.mlflow.client()
    run_id = client.get_model_version(home.mlflow.registered_model_name, champion).run_id
    metrics = client.get_run(run_id).data.metrics
    top = reported["top_features"].split(", ")
    assert metrics[f"importance_{top[0]}"] >= metrics[f"importance_{top[1]}"] >= metrics[f"importance_{top[2]}"] > 0
    assert home.mlflow.version_tags(champion)["importance.top"] == reported["top_features"]
    assert metrics["training_wall_seconds"] > 0 and metrics["training_peak_rss_mb"] > 0


def _known_days_at(home: Home, at: pd.Timestamp) -> list[str]:
    """The days whose every label is known at `at`, in order up to the first day still waiting (direct)."""
    labels = groups.FRAUD_LABELS.get_or_create(home.storage.feature_store()).read(
        columns=["datetime", "label_time"])
    latest = labels.groupby(labels["datetime"].dt.strftime("%Y-%m-%d"))["label_time"].max().sort_index()
    waiting = (latest > at).to_numpy()
    first_waiting = int(waiting.argmax()) if waiting.any() else len(latest)
    return list(latest.index[:first_waiting])


def test_value_and_competition_count_a_day_only_once_its_labels_are_known(shadowed):
    home, _, _ = shadowed
    labels = groups.FRAUD_LABELS.get_or_create(home.storage.feature_store()).read(columns=["datetime", "label_time"])
    latest = labels.groupby(labels["datetime"].dt.strftime("%Y-%m-%d"))["label_time"].max().sort_index()
    at = latest.iloc[4]  # the moment the fifth day's last label became known
    known = _known_days_at(home, at)
    assert 1 <= len(known) < len(latest)  # some labelled days are still waiting then
    clock = at.isoformat()
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {
        "days": 0, "labels_known_at": clock}}}})
    assert sorted(value_table(home.storage).read()["day"].unique()) == known
    reported = metadata(run(home, ["model_competition"], run_config={"ops": {"model_competition": {"config": {
        "n_resamples": 200, "labels_known_at": clock}}}}), "model_competition")
    assert reported["days"] == f"{known[0]}..{known[-1]} ({len(known)} days)"
    before_any = (latest.min() - pd.Timedelta(microseconds=1)).isoformat()
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {
        "days": 0, "labels_known_at": before_any}}}})
    assert not value_table(home.storage).exists() or value_table(home.storage).read().empty
    run(home, ["model_value"], run_config={"ops": {"model_value": {"config": {"days": 0}}}})  # now: all known
    assert sorted(value_table(home.storage).read()["day"].unique()) == list(latest.index)
