"""MLflow as a Dagster resource: log training runs, register versions, move the champion alias
and load the champion for scoring.

Every call goes through an `MlflowClient` built from the resource's own URIs: nothing reads or
changes mlflow's process-global tracking URI or active run, so two resources (or two tests)
pointing at different stores never interfere. mlflow and xgboost are imported lazily.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from fraud_pipelines.settings import fraud_home, is_uri, local_home
from fraud_pipelines.training.calibration import Calibrator
from fraud_pipelines.training.evaluation import Comparison, Evaluation
from fraud_pipelines.training.mlflow_values import log_values
from fraud_pipelines.training.model import TrainedModel, select_features
from fraud_pipelines.training.promotion import PromotionDecision

CHAMPION_ALIAS = "champion"
TRANSFORMATION_STATE_FILE = "transformation_state.json"
CALIBRATION_FILE = "calibration.json"
#: Metric-name prefix of the candidate's own test metrics; other roles get "<role>_test_".
TEST_PREFIX = "test_"


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """What a model was trained from: the training dataset, its feature view, the Delta versions read."""

    training_dataset_version: int | str
    feature_view_name: str
    feature_view_version: int | str
    delta_versions: Mapping[str, int] = field(default_factory=dict)

    def to_tags(self) -> dict[str, str]:
        """MLflow tags (searchable, e.g. `tags.training_dataset_version = '3'`)."""
        tags = {
            "training_dataset_version": str(self.training_dataset_version),
            "feature_view": self.feature_view_name,
            "feature_view_version": str(self.feature_view_version),
        }
        return tags | {f"delta_version.{table}": str(v) for table, v in sorted(self.delta_versions.items())}


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run put its model: the run, the logged model and its artifact URI."""

    run_id: str
    model_id: str
    model_uri: str


@dataclass(frozen=True)
class ChampionInfo:
    """The registry's current champion: version, run, training data and its logged test metrics."""

    version: str
    run_id: str
    training_dataset_version: str | None
    test_metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True)
class LoadedModel:
    """A registered model ready to score: calibrated probabilities, threshold (on the calibrated
    probability) and the transformation state.

    Every scorer goes through here: batch scoring calls `predict_proba`; a scorer that runs the
    trees itself (the REST service's booster) must pass their output through `calibrator.transform`.
    """

    version: str
    run_id: str
    classifier: Any
    threshold: float
    feature_names: tuple[str, ...]
    transformation_state: dict[str, Any]
    calibrator: Calibrator = Calibrator()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated fraud probability per row, shape (n_rows,); X must hold `feature_names` (extras ignored)."""
        return self.calibrator.transform(self.raw_proba(X))

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The trees' score per row before calibration."""
        return self.classifier.predict_proba(select_features(X, self.feature_names))[:, 1]


#: MLflow's UI opens an experiment in the view its kind names; without it 3.x guesses and opens
#: GenAI tracing. "custom_model_development" is the classic training-runs view (MLflow 3.17 UI).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: A saved view of the runs table (MLflow's "share view" state, kept as an experiment tag): the
#: headline test metrics as columns, best test PR-AUC first. `ui_url()` links to it.
RUNS_VIEW = "fraud_training_runs"
_HEADLINE = ("pr_auc", "roc_auc", "recall_at_1pct_fpr", "precision", "recall", "f1", "threshold")
UI_TAGS = {
    EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
    f"mlflow.sharedViewState.{RUNS_VIEW}": json.dumps({
        "orderByKey": f"metrics.`{TEST_PREFIX}pr_auc`", "orderByAsc": False,
        "selectedColumns": [*(f"metrics.`{TEST_PREFIX}{m}`" for m in _HEADLINE), "metrics.`baseline_test_pr_auc`",
                            "attributes.`Dataset`", "attributes.`Models`"],
    }),
}
#: Base URL of the MLflow UI that links and inline plots point to.
MLFLOW_UI_ENV = "FRAUD_MLFLOW_UI"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"


class RegistryOperations:
    """The MLflow tracking store and model registry as the project uses them: training runs,
    evaluations, versions, the `champion` alias, loading. Plain code, shared by the Dagster
    resource (`fraud_pipelines.resources.MlflowResource`) and `ModelRegistry`, which the REST
    service and the CLI use without Dagster. Needs the attributes `tracking_uri`, `registry_uri`,
    `artifact_location`, `experiment_name` and `registered_model_name`; empty settings mean the
    embedded store under `$FRAUD_HOME/mlflow` (SQLite + artifact folder, no server)."""

    tracking_uri: str
    registry_uri: str
    artifact_location: str
    experiment_name: str
    registered_model_name: str

    def resolved_tracking_uri(self) -> str:
        """The tracking URI in use (the embedded SQLite store unless configured)."""
        if self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
            return self.tracking_uri or os.environ["MLFLOW_TRACKING_URI"]
        folder = local_home() / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"

    def resolved_artifact_location(self) -> str | None:
        """The artifact root given to a newly created experiment (None: a tracking server's own,
        `mlflow server --artifacts-destination`, proxied through the server)."""
        if not self.artifact_location and self.resolved_tracking_uri().startswith(("http://", "https://")):
            return None
        location = self.artifact_location or f"{fraud_home()}/mlflow/artifacts"
        return location if is_uri(location) or location.startswith("file:") else Path(location).resolve().as_uri()

    def client(self) -> Any:
        """An `mlflow.MlflowClient` bound to these tracking and registry URIs."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        tracking = self.resolved_tracking_uri()
        return MlflowClient(tracking_uri=tracking, registry_uri=self.registry_uri or tracking)

    def experiment_id(self) -> str:
        """The experiment's id, creating it (with the artifact location) on first use."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            for key, value in UI_TAGS.items():
                if experiment.tags.get(key) != value:
                    client.set_experiment_tag(experiment.experiment_id, key, value)
            return experiment.experiment_id
        try:
            return client.create_experiment(self.experiment_name, artifact_location=self.resolved_artifact_location(),
                                            tags=UI_TAGS)
        except MlflowException as error:  # created meanwhile by another process
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise error
            return experiment.experiment_id

    def ui_url(self, run_id: str | None = None) -> str:
        """Where the MLflow UI (`mlflow ui`, `$FRAUD_MLFLOW_UI`) shows the training runs, best test
        PR-AUC first, or one run."""
        base = os.environ.get(MLFLOW_UI_ENV, DEFAULT_MLFLOW_UI).rstrip("/")
        experiment = self.experiment_id()
        if run_id:
            return f"{base}/#/experiments/{experiment}/runs/{run_id}"
        return f"{base}/#/experiments/{experiment}/runs?viewStateShareKey={RUNS_VIEW}"

    def artifact_url(self, run_id: str, path: str) -> str:
        """An artifact of a run as the MLflow UI serves it (e.g. a plot, shown inline by Dagster)."""
        base = os.environ.get(MLFLOW_UI_ENV, DEFAULT_MLFLOW_UI).rstrip("/")
        return f"{base}/get-artifact?path={quote(path, safe='')}&run_uuid={run_id}"

    # ---- training runs -------------------------------------------------------------------------

    def log_training_run(
        self,
        trained: TrainedModel,
        *,
        input_example: pd.DataFrame,
        transformation_state: Mapping[str, Any],
        lineage: Lineage,
        run_name: str | None = None,
    ) -> LoggedRun:
        """One finished MLflow run holding params, training metrics, lineage tags and the model
        (signature, input example, threshold and the transformation state inside its folder)."""
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        state = dict(transformation_state)
        check_json_state(state)
        example = select_features(input_example, trained.feature_names).head(5)
        client = self.client()
        experiment_id = self.experiment_id()
        run = client.create_run(experiment_id, run_name=run_name, tags=lineage.to_tags())
        run_id, model_id = run.info.run_id, None
        try:
            params = trained.params.to_dict() | {"calibration_method": trained.calibrator.kind}
            log_values(client, run_id, params=params, metrics=trained.summary())
            _log_dataset_input(client, run_id, lineage)
            logged_model = client.create_logged_model(
                experiment_id, name="model", source_run_id=run_id, model_type="xgboost",
                tags=lineage.to_tags(),
            )
            model_id = logged_model.model_id
            client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
            with tempfile.TemporaryDirectory(prefix="fraud_model_") as folder:
                local = Path(folder) / "model"
                _save_model(trained, local, example, state, lineage, logged_model, run_id)
                client.log_model_artifacts(model_id, str(local))
            client.finalize_logged_model(model_id, LoggedModelStatus.READY)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            if model_id is not None:
                client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            client.set_terminated(run_id, "FAILED")
            raise
        return LoggedRun(run_id=run_id, model_id=model_id, model_uri=logged_model.artifact_location)

    def find_logged_run(self, run_id: str) -> LoggedRun:
        """The `LoggedRun` of an existing training run (e.g. from a run id kept in asset metadata)."""
        client = self.client()
        outputs = client.get_run(run_id).outputs
        model_ids = [output.model_id for output in (outputs.model_outputs if outputs else [])]
        if not model_ids:
            raise ValueError(f"MLflow run {run_id} has no logged model; was it made by log_training_run?")
        logged_model = client.get_logged_model(model_ids[-1])
        return LoggedRun(run_id=run_id, model_id=logged_model.model_id, model_uri=logged_model.artifact_location)

    def log_evaluation(
        self,
        run_id: str,
        evaluations: Mapping[str, Evaluation],
        *,
        plots: Mapping[str, Path | str] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Test metrics per role ("model" → `test_pr_auc`, "baseline" → `baseline_test_pr_auc`) and
        any extra `metrics` as given, each evaluation as JSON under `evaluation/` and the plots
        under `plots/` of the run."""
        client = self.client()
        outputs = client.get_run(run_id).outputs
        model_id = outputs.model_outputs[-1].model_id if outputs and outputs.model_outputs else None
        metrics = dict(metrics or {})
        for role, evaluation in evaluations.items():
            prefix = TEST_PREFIX if role == "model" else f"{role}_{TEST_PREFIX}"
            metrics |= {f"{prefix}{key}": value for key, value in evaluation.metrics().items()}
            client.log_dict(run_id, evaluation.to_dict(), f"evaluation/{role}.json")
        log_values(client, run_id, metrics=metrics, model_id=model_id)
        for path in (plots or {}).values():
            client.log_artifact(run_id, str(path), artifact_path="plots")

    # ---- registry ------------------------------------------------------------------------------

    def register_version(self, logged: LoggedRun, *, description: str | None = None) -> str:
        """Register the run's model as a new version; its tags link it to the run and training data."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(self.registered_model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        run_tags = client.get_run(logged.run_id).data.tags
        tags = {key: value for key, value in run_tags.items() if not key.startswith("mlflow.")}
        tags |= {"run_id": logged.run_id, "logged_model_id": logged.model_id}
        version = client.create_model_version(
            self.registered_model_name, source=logged.model_uri, run_id=logged.run_id,
            tags=tags, description=description, model_id=logged.model_id,
        )
        return str(version.version)

    def champion_version(self) -> str | None:
        """The version the champion alias points at now (one cheap query), or None."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client().get_registered_model(self.registered_model_name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = registered.aliases.get(CHAMPION_ALIAS)
        return None if version is None else str(version)

    def get_champion(self) -> ChampionInfo | None:
        """The current champion's version, run, training dataset version and test metrics, or None."""
        version = self.champion_version()
        if version is None:
            return None
        client = self.client()
        model_version = client.get_model_version(self.registered_model_name, version)
        run_metrics = client.get_run(model_version.run_id).data.metrics
        return ChampionInfo(
            version=version,
            run_id=model_version.run_id,
            training_dataset_version=model_version.tags.get("training_dataset_version"),
            test_metrics={k[len(TEST_PREFIX):]: v for k, v in run_metrics.items() if k.startswith(TEST_PREFIX)},
            tags=dict(model_version.tags),
        )

    def version_tags(self, version: str) -> dict[str, str]:
        """The tags of registered `version`."""
        return dict(self.client().get_model_version(self.registered_model_name, str(version)).tags)

    def latest_versions(self, n: int, *, exclude: tuple[str, ...] = ()) -> list[str]:
        """The `n` highest registered version numbers, newest first, leaving out `exclude`."""
        if n <= 0:
            return []
        found = self.client().search_model_versions(f"name = '{self.registered_model_name}'")
        versions = sorted((int(v.version) for v in found if str(v.version) not in exclude), reverse=True)
        return [str(v) for v in versions[:n]]

    def set_champion(self, version: str) -> None:
        """Point the champion alias at `version` (no questions asked; see `apply_promotion`)."""
        self.client().set_registered_model_alias(self.registered_model_name, CHAMPION_ALIAS, str(version))

    def apply_promotion(self, version: str, decision: Comparison | PromotionDecision) -> bool:
        """Record the promotion decision on the version's tags (with the intervals and compared
        versions of a `PromotionDecision`) and move the alias if it says so."""
        client = self.client()
        previous = self.champion_version()
        tags = {
            "promotion": "promoted" if decision.better else "rejected",
            "promotion_reason": decision.reason[:5_000],
            "champion_at_decision": previous or "none",
        }
        if isinstance(decision, PromotionDecision):
            tags |= decision.tags()
        for key, value in tags.items():
            client.set_model_version_tag(self.registered_model_name, str(version), key, value)
        if decision.better:
            self.set_champion(version)
        return decision.better

    # ---- loading for scoring -------------------------------------------------------------------

    def load_version(self, version: str) -> LoadedModel:
        """A registered version with everything scoring needs (downloaded, then loaded in memory)."""
        model_version = self.client().get_model_version(self.registered_model_name, str(version))
        return self._load(model_version.source, version=str(version), run_id=model_version.run_id)

    def load_logged(self, logged: LoggedRun) -> LoadedModel:
        """A logged (not necessarily registered) model, e.g. to evaluate it before registering it."""
        return self._load(logged.model_uri, version=f"run:{logged.run_id}", run_id=logged.run_id)

    def _load(self, artifact_uri: str, *, version: str, run_id: str) -> LoadedModel:
        import mlflow.artifacts
        import mlflow.xgboost
        from mlflow.models import Model

        with tempfile.TemporaryDirectory(prefix="fraud_model_") as folder:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri, dst_path=folder, tracking_uri=self.resolved_tracking_uri()
            )
            classifier = mlflow.xgboost.load_model(local)
            metadata = Model.load(str(Path(local) / "MLmodel")).metadata or {}
            state = json.loads((Path(local) / TRANSFORMATION_STATE_FILE).read_text())
            calibration = Path(local) / CALIBRATION_FILE
            calibrator = Calibrator.from_state(json.loads(calibration.read_text()) if calibration.exists() else None)
        return LoadedModel(
            version=version,
            run_id=run_id,
            classifier=classifier,
            threshold=float(metadata["threshold"]),
            feature_names=tuple(metadata["feature_names"]),
            transformation_state=state,
            calibrator=calibrator,
        )

    def load_champion(self) -> LoadedModel:
        """The champion, resolved once: the alias may move later, `version` says which one this is."""
        version = self.champion_version()
        if version is None:
            raise LookupError(
                f"registered model {self.registered_model_name!r} has no {CHAMPION_ALIAS!r} alias yet "
                f"in {self.registry_uri or self.resolved_tracking_uri()}; train and register a model first"
            )
        return self.load_version(version)


@dataclass(frozen=True)
class ModelRegistry(RegistryOperations):
    """The registry without Dagster (the REST service, the CLI); the same defaults as the resource."""

    tracking_uri: str = ""
    registry_uri: str = ""
    artifact_location: str = ""
    experiment_name: str = "fraud_model"
    registered_model_name: str = "fraud_model"


def check_json_state(value: Any, where: str = "transformation_state") -> None:
    """Refuse state that would not come back identical from JSON, naming the offending entry."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}; JSON would turn it into a string")
            check_json_state(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_state(item, f"{where}[{index}]")
    elif not (value is None or type(value) in (bool, int, float, str)):
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__name__} ({value!r:.60}); "
            "use plain str/int/float/bool/None, lists and dicts so it round-trips through JSON"
        )


def _save_model(
    trained: TrainedModel, folder: Path, example: pd.DataFrame, state: dict[str, Any],
    lineage: Lineage, logged_model: Any, run_id: str,
) -> None:
    """The MLflow model folder: the xgboost flavor plus threshold, feature names and state."""
    import mlflow.xgboost
    from mlflow.models import Model, infer_signature

    with warnings.catch_warnings():
        # integer columns are category codes (-1 = unknown), never missing: the hint does not apply
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column")
        signature = infer_signature(example, trained.predict_proba(example))
    mlflow_model = Model(
        artifact_path=logged_model.artifact_location, model_uuid=logged_model.model_id,
        run_id=run_id, model_id=logged_model.model_id,
        metadata={
            "threshold": trained.threshold,
            "feature_names": list(trained.feature_names),
            "training_dataset_version": str(lineage.training_dataset_version),
            "calibration": trained.calibrator.kind,
        },
    )
    mlflow.xgboost.save_model(
        trained.classifier, str(folder), mlflow_model=mlflow_model, signature=signature,
        input_example=example, pip_requirements=_pip_requirements(),
    )
    (folder / TRANSFORMATION_STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
    (folder / CALIBRATION_FILE).write_text(json.dumps(trained.calibrator.to_state(), indent=1, sort_keys=True))


def _pip_requirements() -> list[str]:
    """The packages that load the model: whichever xgboost distribution is installed, sklearn, pandas."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for names in (("xgboost-cpu", "xgboost"), ("scikit-learn",), ("pandas",), ("numpy",)):
        for name in names:
            try:
                requirements.append(f"{name}=={version(name)}")
                break
            except PackageNotFoundError:
                continue
    return requirements


def _log_dataset_input(client: Any, run_id: str, lineage: Lineage) -> None:
    """The training dataset as an MLflow dataset input (shown under "Datasets used" in the UI)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    source = json.dumps(lineage.to_tags(), sort_keys=True)
    dataset = Dataset(
        name=f"{lineage.feature_view_name}_v{lineage.feature_view_version}",
        digest=f"td{lineage.training_dataset_version}",
        source_type="feature_view",
        source=source,
    )
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])])
