"""The champion model as the service holds it: loaded with the feature view's serving state for
its own training dataset version, and swapped in place when the `champion` alias moves.

A background thread asks the registry which version the alias points at (one cheap query) every
`poll_seconds`; when it changed, it loads the new version completely before swapping one
reference, so a request sees either the old model or the new one, never a mix. A failed load
keeps the old model and is reported by /health.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from fraud_pipelines.serving.row_calibration import row_calibration
from fraud_pipelines.serving.trees import RowPredictor
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.registry import ModelRegistry

log = logging.getLogger(__name__)
_RETRY_SECONDS = 60.0


class ModelMismatchError(RuntimeError):
    """The champion cannot be served as trained (features or transformation state differ)."""


@dataclass(frozen=True)
class ServingModel:
    """One registered version ready to score feature vectors of the fraud feature view."""

    name: str
    version: str
    threshold: float
    feature_names: tuple[str, ...]
    training_dataset_version: int
    feature_view: Any  # FeatureView with init_serving done for this training dataset version
    booster: Any
    iteration_range: tuple[int, int]
    missing: float
    calibrator: Any  # the model's fitted calibration (training.calibration; identity for older models)
    loaded_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        columns = self.feature_view.serving_columns()
        unknown = [n for n in self.feature_names if n not in columns]
        if unknown:
            raise ModelMismatchError(f"model v{self.version} uses {unknown}, which feature view columns {columns} lack")
        object.__setattr__(self, "_positions", [columns.index(n) for n in self.feature_names])
        object.__setattr__(self, "_trees", RowPredictor(self.booster, len(self.feature_names), self.iteration_range,
                                                        self.missing))
        object.__setattr__(self, "_calibrate_one", row_calibration(self.calibrator))

    @property
    def one_row_path(self) -> str:
        """How one row is scored: "flat trees", "prepared C call" or "inplace_predict" (see `trees`)."""
        return self._trees.path  # type: ignore[attr-defined]

    @property
    def contributions_path(self) -> str:
        """How one row's Saabas contributions are computed: "flat trees" or "approx_contribs" (see `trees`)."""
        return self._trees.contributions_path  # type: ignore[attr-defined]

    def saabas_contributions(self, matrix: np.ndarray) -> np.ndarray:
        """XGBoost's `approx_contribs` of the served trees (bias last), as `governance.reasons` asks for them."""
        return self._trees.contributions(matrix)  # type: ignore[attr-defined]

    def vector(self, features: dict[str, Any]) -> list[Any]:
        """The transformed vector in the model's feature order, from the raw feature values."""
        values = self.feature_view.get_feature_vector({}, passed_features=features)
        return [values[p] for p in self._positions]  # type: ignore[attr-defined]

    def predict_one(self, vector: list[Any]) -> float:
        """`predict` of one vector, as a Python float: the same bits without numpy arrays around them
        (the one-row calibration, checked against the calibrator at load, where it has one)."""
        raw = self._trees.predict_row(vector)  # type: ignore[attr-defined]
        calibrate = self._calibrate_one  # type: ignore[attr-defined]
        return calibrate(raw) if calibrate is not None else float(self.calibrator.transform([raw])[0])

    def predict(self, vectors: list[list[Any]]) -> np.ndarray:
        """Calibrated fraud probabilities: the same trees and float path as `XGBClassifier.predict_proba`,
        then the calibration batch scoring applies (`LoadedModel.predict_proba`)."""
        return self.calibrator.transform(self._trees.predict(vectors))  # type: ignore[attr-defined]


def load_serving_model(mlflow: ModelRegistry, fs: Any, version: str) -> ServingModel:
    """Registered `version` with the feature view's transformation state of its training data,
    refusing a model whose logged state differs from the catalog's."""
    loaded = mlflow.load_version(version)
    model_version = mlflow.client().get_model_version(mlflow.registered_model_name, str(version))
    td_version = model_version.tags.get("training_dataset_version")
    if td_version is None:
        raise ModelMismatchError(f"model v{version} has no training_dataset_version tag; it cannot be served")
    fv = fs.get_feature_view(fraud_view.NAME, fraud_view.VERSION)
    catalog_state = fv.get_training_dataset(int(td_version)).transformations
    if catalog_state != loaded.transformation_state:
        raise ModelMismatchError(
            f"model v{version}: its logged transformation state differs from training dataset "
            f"v{td_version}'s in the catalog ({loaded.transformation_state} vs {catalog_state})"
        )
    fv.init_serving(int(td_version))
    classifier = loaded.classifier
    classifier.set_params(n_jobs=1)  # one row at a time: threads cost more than they give
    try:
        iteration_range = (0, int(classifier.best_iteration) + 1)
    except AttributeError:
        iteration_range = (0, 0)
    return ServingModel(
        name=mlflow.registered_model_name, version=str(version), threshold=loaded.threshold,
        feature_names=tuple(loaded.feature_names), training_dataset_version=int(td_version), feature_view=fv,
        booster=classifier.get_booster(), iteration_range=iteration_range, missing=float(classifier.missing),
        calibrator=loaded.calibrator,
    )


class ChampionHolder:
    """The current champion, kept in step with the registry's alias by a polling thread."""

    def __init__(self, mlflow: ModelRegistry, fs: Any, *, poll_seconds: float = 10.0) -> None:
        self.mlflow = mlflow
        self.fs = fs
        self.poll_seconds = poll_seconds
        self.current: ServingModel | None = None
        self.last_error: str | None = None
        self.last_check: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: tuple[str, float] | None = None  # (version, when) of the last failed load

    def refresh(self) -> bool:
        """Load the alias's version if it is not the one served; True when the model changed."""
        self.last_check = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            version = self.mlflow.champion_version()
        except Exception as error:  # noqa: BLE001 -- the registry may be briefly unavailable
            self.last_error = f"registry: {error}"
            return False
        if version is None:
            self.last_error = "no champion model yet: run `make demo` (or materialize registered_model) first"
            return False
        if self.current is not None and self.current.version == version:
            self.last_error = None  # e.g. the alias came back after a version that failed to load
            return False
        recently_failed = self._failed is not None and self._failed[0] == version
        if recently_failed and time.monotonic() - self._failed[1] < _RETRY_SECONDS:
            return False  # already reported; retried a minute later or when the alias moves
        started = time.perf_counter()
        try:
            model = load_serving_model(self.mlflow, self.fs, version)
        except Exception as error:  # noqa: BLE001 -- keep serving the previous model
            self._failed = (version, time.monotonic())
            self.last_error = f"loading model v{version}: {type(error).__name__}: {error}"
            log.error(self.last_error)
            return False
        previous = self.current.version if self.current else None
        self.current, self.last_error, self._failed = model, None, None
        log.info("serving model v%s (was %s), loaded in %.1fs; one row scored by %s, its reasons by %s", version,
                 previous, time.perf_counter() - started, model.one_row_path, model.contributions_path)
        return True

    def start(self) -> None:
        """Load the champion now and keep polling the alias in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="champion-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the current model stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()
