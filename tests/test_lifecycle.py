"""End to end: the real Dagster graph on a small synthetic data set, from raw tables to batch
scores, with a real MLflow store; a worse model never takes the champion alias."""

from __future__ import annotations

import dagster as dg
import pytest

from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.scoring.assets import SCORING_ASSETS, scores_table
from fraud_pipelines.training.assets import TRAINING_ASSETS
from fraud_pipelines.training.checks import TRAINING_CHECKS

EVERYTHING = [*RAW_ASSETS, *RAW_CHECKS, *FEATURE_ASSETS, *FEATURE_CHECKS, *TRAINING_ASSETS, *TRAINING_CHECKS,
              *SCORING_ASSETS]

FIRST, LAST = "2025-01-01", "2025-01-12"
SMALL = RawSourceResource(n_cards=400, transactions_per_day=1_200, horizon_days=20, seed=5, fraud_rate=0.02)
# Fewer features and stumps (not the tuned parameters): still better than the baseline, worse than the champion.
WEAKER = {"drop_features": ["trans_freq", "loc_delta_mavg", "loc_delta_t_minus_1"], "n_estimators": 5, "max_depth": 1,
          "use_tuned_params": False, "imbalance_power": 0.5}
# Without any behavioural feature the model cannot even beat the baseline: the gate stops it.
HOPELESS = {"drop_features": ["loc_delta_t_minus_1", "time_delta_t_minus_1", "trans_volume_mavg",
                              "trans_volume_mstd", "trans_freq", "loc_delta_mavg"], "n_estimators": 5, "max_depth": 1,
            "use_tuned_params": False}


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def run_job(instance, *, selection=None, run_config=None, first=FIRST, last=LAST, raise_on_error=True):
    """The project's assets and checks, as `fraud_pipeline_job` runs them, on the small data set."""
    return dg.materialize(
        EVERYTHING,
        instance=instance,
        resources={"storage": StorageResource(), "raw_source": SMALL, "mlflow": MlflowResource()},
        run_config=run_config,
        selection=selection,
        raise_on_error=raise_on_error,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


TRAINING = [dg.AssetKey(k) for k in ("training_dataset", "feature_selection", "model_tuning", "fraud_model",
                                      "model_evaluation", "registered_model")]


def test_whole_graph_then_a_weaker_model_does_not_take_the_alias(instance):
    result = run_job(instance)
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["beats_baseline"] and all(evaluations.values())

    mlflow = MlflowResource()
    champion = mlflow.get_champion()
    assert champion is not None and champion.version == "1"
    evaluation = result.output_for_node("model_evaluation")
    model_pr_auc = evaluation["evaluations"]["model"]["pr_auc"]
    fraud_rate = evaluation["evaluations"]["model"]["n_positives"] / evaluation["evaluations"]["model"]["n_rows"]
    assert model_pr_auc > 5 * fraud_rate
    assert model_pr_auc > evaluation["evaluations"]["baseline"]["pr_auc"]

    scores = scores_table(StorageResource()).read()
    assert len(scores) > 0 and set(scores["model_version"]) == {"1"}
    assert scores["fraud_score"].between(0, 1).all()
    assert len(scores_table(StorageResource()).days()) == 12
    by_day = scores.assign(day=scores["datetime"].dt.strftime("%Y-%m-%d")).groupby("day")
    for day, rows in by_day:  # each day's materialization tells that day's scores, not the run's
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("batch_scores"), asset_partitions=[day]), limit=1).records
        metadata = record.asset_materialization.metadata
        assert metadata["dagster/row_count"].value == len(rows)
        assert metadata["alerts"].value == int(rows["decision"].sum())
        assert metadata["first_event_time"].value.startswith(day)

    weaker = run_job(instance, selection=TRAINING, run_config={"ops": {"fraud_model": {"config": WEAKER}}})
    assert weaker.success
    trained = next(m.materialization.metadata for m in weaker.get_asset_materialization_events()
                   if m.asset_key == dg.AssetKey("fraud_model"))
    genuine = trained["n_train_rows"].value - trained["n_train_positives"].value
    assert trained["scale_pos_weight"].value == pytest.approx((genuine / trained["n_train_positives"].value) ** 0.5)
    assert weaker.output_for_node("fraud_model")["params"]["imbalance_power"] == 0.5
    second = weaker.output_for_node("registered_model")
    assert second["version"] == "2" and not second["promoted"]
    assert mlflow.champion_version() == "1"
    reason = weaker.output_for_node("model_evaluation")["promotion_reason"]
    assert "does not beat" in reason

    hopeless = run_job(instance, selection=TRAINING, run_config={"ops": {"fraud_model": {"config": HOPELESS}}},
                       raise_on_error=False)
    assert not hopeless.success
    gate = next(e for e in hopeless.get_asset_check_evaluations() if e.check_name == "beats_baseline")
    assert not gate.passed and "does not beat baseline" in gate.description
    assert mlflow.champion_version() == "1"
    versions = mlflow.client().search_model_versions(f"name = '{mlflow.registered_model_name}'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]  # the gated model was never registered

    rescored = run_job(instance, selection=[dg.AssetKey("batch_scores")], first=LAST, last=LAST)
    assert rescored.success
    assert set(scores_table(StorageResource()).read()["model_version"]) == {"1"}


def test_training_dataset_split_is_temporal_and_leakage_free(instance):
    result = run_job(instance, selection=[dg.AssetKey(k) for k in (
        "raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards",
        "transactions_fg", "transactions_4h_aggs", "fraud_labels_fg", "fraud_feature_view", "training_dataset")])
    assert result.success
    materialization = next(m for m in result.get_asset_materialization_events()
                           if m.asset_key == dg.AssetKey("training_dataset"))
    metadata = materialization.materialization.metadata
    assert metadata["leakage_free"].value is True
    splits = metadata["splits"].value
    # inclusive days: the test split ends on the last day of data, not the day after
    assert splits["test"].endswith("2025-01-12") and splits["train"].startswith("2025-01-01")
    counts = metadata["row_counts"].value
    assert counts["train"] > counts["test"] > 0 and counts["validation"] > 0
    assert sum(counts.values()) == len(StorageResource().raw_table("fraud_labels").read())
