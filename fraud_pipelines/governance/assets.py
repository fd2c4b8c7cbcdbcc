"""Governance assets: per registered version, global importance (mean |TreeSHAP|) and fairness
slices on its test split, stored with the version in MLflow; the champion/challenger competition
on labelled shadow days; the value of each version's decisions per scored day."""

import tempfile
from datetime import date, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field

from fraud_pipelines.features import groups, label_time
from fraud_pipelines.governance.challenger import challenger_version
from fraud_pipelines.governance.competition import compete
from fraud_pipelines.governance.fairness import fairness_report
from fraud_pipelines.governance.importance import global_importance
from fraud_pipelines.governance.labelled import amounts_of, labels_of, read_days, stored_days
from fraud_pipelines.governance.owners import owner_slices
from fraud_pipelines.governance.reasons import Explainer
from fraud_pipelines.governance.value import value_by_day, value_by_version
from fraud_pipelines.metadata import frame_table
from fraud_pipelines.resources import MlflowResource, StorageResource
from fraud_pipelines.scoring.tables import scores_table, shadow_table
from fraud_pipelines.tables import DeltaDayTable
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.model import select_features

GROUP = "governance"
FAIRNESS_CHECK = "fairness_disparity"


class VersionConfig(dg.Config):
    """Which registered version to examine."""

    version: str = Field(default="", description="Registered version; empty: the newest one.")


class ImportanceConfig(VersionConfig):
    sample_rows: int = Field(default=2_000, ge=100, description=(
        "Test charges (a seeded sample) the mean |contribution| is taken over: TreeSHAP costs milliseconds "
        "a charge, and a few thousand charges already rank the features stably."))
    seed: int = Field(default=0)


class FairnessConfig(VersionConfig):
    max_ratio: float = Field(default=1.25, ge=1.0, description=(
        "Largest allowed ratio between the best and worst group's metric (1.25: the four-fifths rule); "
        "beyond it the fairness check warns."))
    min_rows: int = Field(default=50, ge=1, description="Groups with fewer charges are left out of the ratios.")
    min_positives: int = Field(default=5, ge=1, description="Groups with fewer frauds are left out of recall "
                                                            "and PR-AUC ratios.")


class CompetitionConfig(dg.Config):
    days: int = Field(default=0, ge=0, description="Compare on the latest N labelled shadow days; 0: all of them.")
    labels_known_at: str = Field(default="", description=(
        "A day counts as labelled once all its labels are known at this time (ISO, UTC; default now)."))
    n_resamples: int = Field(default=1_000, ge=100, description="Paired bootstrap resamples.")
    confidence: float = Field(default=0.95, description="Two-sided confidence of the interval.")
    seed: int = Field(default=0)


class ValueConfig(dg.Config):
    review_cost: float = Field(default=5.0, ge=0.0, description="What reviewing one alert costs, in the "
                                                                "amount's currency; charged per false alert.")
    days: int = Field(default=60, ge=0, description=(
        "Recompute the latest N scored days (their labels arrive within weeks); older days keep their stored "
        "rows, so a run costs N days whatever the history. 0: every scored day (e.g. after changing review_cost)."))
    labels_known_at: str = Field(default="", description=(
        "A day counts as labelled once all its labels are known at this time (ISO, UTC; default now)."))


def _known_at(text: str) -> datetime | None:
    """The clock labels are known by: `text` (ISO, UTC when naive), or None for now."""
    return label_time.as_utc(text).to_pydatetime() if text else None


def _version(mlflow: MlflowResource, wanted: str) -> str:
    if wanted:
        return wanted
    newest = mlflow.latest_versions(1)
    if not newest:
        raise RuntimeError("no registered model version yet: materialize registered_model first")
    return newest[0]


def _test_split(storage: StorageResource, mlflow: MlflowResource, version: str):
    """The version's loaded model and its training dataset's test rows (with tid) and labels."""
    td_version = mlflow.version_tags(version).get("training_dataset_version")
    if td_version is None:
        raise RuntimeError(f"model v{version} has no training_dataset_version tag")
    fv = fraud_view.get_or_create(storage.feature_store())
    _, _, x_test, _, _, y_test = fv.get_train_validation_test_split(int(td_version), primary_key=True)
    window = fv.get_training_dataset(int(td_version)).splits["test"]
    return mlflow.load_version(version), x_test, np.asarray(y_test).ravel(), window


@dg.asset(group_name=GROUP, kinds={"xgboost", "mlflow"}, deps=["registered_model"],
          description="Global feature importance of a registered version: mean |exact TreeSHAP contribution| on a "
                      "seeded sample of its test split, logged to its MLflow run.")
def model_importance(context: dg.AssetExecutionContext, config: ImportanceConfig, storage: StorageResource,
                     mlflow: MlflowResource) -> dg.MaterializeResult:
    version = _version(mlflow, config.version)
    model, x_test, _, _ = _test_split(storage, mlflow, version)
    if len(x_test) > config.sample_rows:
        rows = np.sort(np.random.default_rng(config.seed).choice(len(x_test), config.sample_rows, replace=False))
        x_test = x_test.iloc[rows]
    matrix = select_features(x_test, model.feature_names).to_numpy(dtype=np.float64, na_value=np.nan)
    explainer = Explainer.from_classifier(model.classifier, model.feature_names, method="treeshap")  # exact: a sample
    contributions = explainer.contributions(matrix)
    importance = global_importance(contributions, model.feature_names)
    client = mlflow.client()
    client.log_dict(model.run_id, importance.to_dict(orient="records"), "governance/importance.json")
    for row in importance.itertuples():
        client.log_metric(model.run_id, f"importance_{row.feature}", float(row.mean_abs_contribution))
    client.set_model_version_tag(mlflow.registered_model_name, version, "importance.top",
                                 ", ".join(importance["feature"].head(3)))
    return dg.MaterializeResult(metadata={
        "model_version": version, "rows": len(matrix),
        "importance": frame_table(importance.round(5)),
        "top_features": ", ".join(importance["feature"].head(3)),
    })


@dg.asset(group_name=GROUP, kinds={"mlflow"}, deps=["registered_model"],
          check_specs=[dg.AssetCheckSpec(FAIRNESS_CHECK, asset="model_fairness",
                                         description="Warns when a metric's ratio between owner groups passes "
                                                     "max_ratio (non-blocking).")],
          description="Recall at the threshold, FPR, PR-AUC and alert rate of a registered version by the card "
                      "owner's sex and age band on its test split, with disparity ratios; stored with the version.")
def model_fairness(context: dg.AssetExecutionContext, config: FairnessConfig, storage: StorageResource,
                   mlflow: MlflowResource):
    version = _version(mlflow, config.version)
    model, x_test, y_test, window = _test_split(storage, mlflow, version)
    score = model.predict_proba(x_test)
    scored = pd.DataFrame({"tid": x_test["tid"].to_numpy(), "is_fraud": y_test, "fraud_score": score,
                           "decision": (score >= model.threshold).astype(np.int8)})
    owners = owner_slices(groups.TRANSACTIONS.get_or_create(storage.feature_store()), scored["tid"],
                          window.start, window.end)
    frame = scored.merge(owners, on="tid", how="left").fillna({"sex": "unknown", "age_band": "unknown"})
    report = fairness_report(frame, ("sex", "age_band"), max_ratio=config.max_ratio, min_rows=config.min_rows,
                             min_positives=config.min_positives)
    beyond = report.warnings()
    client = mlflow.client()
    client.log_dict(model.run_id, {"slices": report.slices.to_dict(orient="records"),
                                   "disparity": report.disparity.to_dict(orient="records"),
                                   "max_ratio": config.max_ratio}, "governance/fairness.json")
    client.log_metric(model.run_id, "fairness_max_disparity", min(report.worst(), 1e6))
    describe = "; ".join(f"{r.attribute} {r.metric} {r.highest_group} {r.highest:.3f} vs {r.lowest_group} "
                         f"{r.lowest:.3f} (x{r.ratio:.2f})" for r in beyond.itertuples())
    for key, value in {"fairness.max_disparity": f"{report.worst():.4f}",
                       "fairness.warnings": describe[:4_000] or "none"}.items():
        client.set_model_version_tag(mlflow.registered_model_name, version, key, value)
    yield dg.MaterializeResult(
        metadata={"model_version": version, "rows": len(frame), "max_disparity": report.worst(),
                  "slices": frame_table(report.slices.round(4)), "disparity": frame_table(report.disparity.round(4))},
        check_results=[dg.AssetCheckResult(
            check_name=FAIRNESS_CHECK, passed=beyond.empty, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(beyond)} disparities beyond x{config.max_ratio}: {describe}"[:2_000] if len(beyond)
                         else f"every group ratio within x{config.max_ratio}"),
            metadata={"max_disparity": report.worst(), "max_ratio": config.max_ratio,
                      "beyond": frame_table(beyond.round(4)) if len(beyond) else "none"},
        )],
    )


def _days(frame: pd.DataFrame) -> list[date]:
    return sorted(date.fromisoformat(d) for d in set(frame["day"]))


def _latest_version(table: DeltaDayTable, day: date) -> str:
    """The model version that scored the latest charge of `day` in `table`."""
    rows = read_days(table, [day], ["datetime", "model_version"])
    return str(rows.sort_values("datetime")["model_version"].iloc[-1])


@dg.asset(group_name=GROUP, kinds={"delta"}, deps=["shadow_scores", "batch_scores", "fraud_labels_fg"],
          description="Champion against challenger on the same labelled shadow days: PR-AUC, recall at each "
                      "one's threshold and a paired bootstrap of the PR-AUC difference. A report: promotion "
                      "stays the registry's rule.")
def model_competition(context: dg.AssetExecutionContext, config: CompetitionConfig, storage: StorageResource,
                      mlflow: MlflowResource) -> dg.MaterializeResult:
    shadow, scores = shadow_table(storage), scores_table(storage)
    shadow_days = stored_days(shadow)
    if not shadow_days:
        return dg.MaterializeResult(metadata={"verdict": "no shadow scores yet: give a registered version the "
                                                         "`challenger` alias and run shadow_scores"})
    wanted = challenger_version(mlflow) or _latest_version(shadow, shadow_days[-1])
    candidates = sorted(set(shadow_days) & set(stored_days(scores)))
    labels = labels_of(groups.FRAUD_LABELS.get_or_create(storage.feature_store()), candidates,
                       _known_at(config.labels_known_at))
    columns = ["tid", "datetime", "fraud_score", "decision", "threshold", "model_version"]
    challenger = read_days(shadow, _days(labels), [*columns, "champion_version"])
    challenger = challenger[challenger["model_version"] == wanted]
    labelled_days = sorted(set(challenger["day"]))
    if config.days:
        labelled_days = labelled_days[-config.days:]
    challenger = challenger[challenger["day"].isin(labelled_days)]
    if challenger.empty:
        return dg.MaterializeResult(metadata={"challenger_version": wanted,
                                              "verdict": f"challenger v{wanted} has no labelled shadow day yet"})
    champion_version = challenger.sort_values("datetime")["champion_version"].iloc[-1]
    champion = read_days(scores, [date.fromisoformat(d) for d in labelled_days], columns)
    champion = champion[champion["model_version"] == champion_version]
    challenger = challenger[challenger["champion_version"] == champion_version]
    result = compete(champion, challenger, labels, n_resamples=config.n_resamples, confidence=config.confidence,
                     seed=config.seed)
    mlflow.client().set_model_version_tag(mlflow.registered_model_name, wanted, "competition.verdict",
                                          result.verdict()[:4_000])
    interval = result.interval
    return dg.MaterializeResult(metadata={
        "champion_version": result.champion_version, "challenger_version": result.challenger_version,
        "days": f"{result.days[0]}..{result.days[-1]} ({len(result.days)} days)" if result.days else "none",
        "rows": result.rows, "positives": result.positives,
        "metrics": frame_table(result.metrics.round(4)),
        "pr_auc_difference": interval.difference if interval else None,
        "ci_low": interval.low if interval else None, "ci_high": interval.high if interval else None,
        "verdict": result.verdict(),
        "report": dg.MetadataValue.json(result.to_dict()),
    })


VALUE_SCHEMA = pa.schema([
    ("role", pa.string()), ("model_version", pa.string()), ("day", pa.string()), ("charges", pa.int64()),
    ("frauds", pa.int64()), ("alerts", pa.int64()), ("caught", pa.int64()), ("fraud_amount_caught", pa.float64()),
    ("fraud_amount_missed", pa.float64()), ("false_alerts", pa.int64()), ("review_cost", pa.float64()),
    ("net_value", pa.float64()),
])


def value_table(storage: StorageResource) -> DeltaDayTable:
    """The `model_value` Delta table: one row per role, model version and labelled scored day."""
    return DeltaDayTable(f"{storage.location}/monitoring/model_value", VALUE_SCHEMA,
                         storage_options=storage.storage_options)


@dg.asset(group_name=GROUP, kinds={"delta"}, deps=["batch_scores", "shadow_scores", "fraud_labels_fg"],
          description="Per model version and labelled scored day: fraud amount caught and missed, false alerts "
                      "x review cost, net value; the champion's decisions and the challenger's shadow ones.")
def model_value(context: dg.AssetExecutionContext, config: ValueConfig,
                storage: StorageResource) -> dg.MaterializeResult:
    fs = storage.feature_store()
    tables = {"champion": scores_table(storage), "challenger": shadow_table(storage)}
    candidates = stored_days(*tables.values())
    if not candidates:
        return dg.MaterializeResult(metadata={"rows": 0, "note": "no scores yet: materialize batch_scores"})
    if config.days:
        candidates = candidates[-config.days:]
    labels = labels_of(groups.FRAUD_LABELS.get_or_create(fs), candidates, _known_at(config.labels_known_at))
    days = _days(labels)
    scored = pd.concat([read_days(table, days, ["tid", "decision", "model_version"]).assign(role=role)
                        for role, table in tables.items()], ignore_index=True)
    scored = scored[scored["tid"].isin(labels["tid"])]
    amounts = amounts_of(groups.TRANSACTIONS.get_or_create(fs), days, scored["tid"])
    by_day = value_by_day(scored, labels, amounts, review_cost=config.review_cost)
    by_day = _keep_older_days(value_table(storage), by_day, recomputed={d.isoformat() for d in candidates})
    written = value_table(storage).replace_all(by_day)
    totals = value_by_version(by_day)
    with tempfile.TemporaryDirectory(prefix="model_value_") as folder:
        plot = _value_plot(by_day, f"{folder}/net_value.png")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(by_day), "dagster/uri": value_table(storage).uri, "review_cost": config.review_cost,
        "delta_version": written["delta_version"],
        "by_version": frame_table(totals.round(2)),
        "by_day": frame_table(by_day.tail(60).round(2)),
        "plot_net_value": dg.MetadataValue.md(plot),
    })


def _keep_older_days(table: DeltaDayTable, by_day: pd.DataFrame, recomputed: set[str]) -> pd.DataFrame:
    """The new rows, plus the stored rows of days outside those recomputed (in value_by_day's order)."""
    if not table.exists():
        return by_day
    stored = table.read()
    kept = stored[~stored["day"].isin(recomputed)]
    merged = pd.concat([kept, by_day], ignore_index=True) if len(kept) else by_day
    return merged.sort_values(["role", "model_version", "day"], kind="stable").reset_index(drop=True)


def _value_plot(by_day: pd.DataFrame, path: str) -> str:
    """Net value per day, one line per role and version, as an inline Markdown image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from fraud_pipelines.training.plots import markdown_image

    figure = Figure(figsize=(7, 3.2))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    for (role, version), part in by_day.groupby(["role", "model_version"], sort=True):
        axis.plot(pd.to_datetime(part["day"]), part["net_value"], marker="o", label=f"{role} v{version}")
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_ylabel("net value")
    axis.set_title("fraud caught - false alerts x review cost, per day")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    return markdown_image(path, "net value per day")


GOVERNANCE_ASSETS = [model_importance, model_fairness, model_competition, model_value]
