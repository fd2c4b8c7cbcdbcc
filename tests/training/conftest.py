"""Shared fixtures: a seeded, imbalanced synthetic split whose fraud signal is an interaction
(x0 * x1 large), which trees find and a linear model cannot; and a pre-migrated MLflow store."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from fraud_pipelines.resources import MlflowResource  # noqa: E402
from fraud_pipelines.training.model import TrainedModel, TrainingParams, train_model  # noqa: E402

FAST_PARAMS = TrainingParams(n_jobs=1, seed=7)


@dataclass(frozen=True)
class Splits:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


def make_rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Fraud when x0 * x1 > 2.5 (90 % of those) plus 0.2 % label noise: about 1.5-2 % positives.

    Columns look like transformed feature-view output: scaled floats with NaN, an integer code
    with -1 for unknown, and a pure-noise column.
    """
    rng = np.random.default_rng(seed)
    x0, x1 = rng.normal(size=n), rng.normal(size=n)
    category = rng.integers(-1, 8, size=n)
    amount = rng.lognormal(3, 1, size=n)
    noise = rng.normal(size=n)
    y = (((x0 * x1 > 2.5) & (rng.random(n) < 0.9)) | (rng.random(n) < 0.002)).astype(np.int8)
    amount_scaled = np.where(rng.random(n) < 0.05, np.nan, (amount - 20) / 20)
    X = pd.DataFrame(
        {"x0": x0, "x1": x1, "category": category.astype(np.int64), "amount_scaled": amount_scaled, "noise": noise}
    )
    return X, y


@pytest.fixture(scope="session")
def splits() -> Splits:
    X_train, y_train = make_rows(4_000, 1)
    X_val, y_val = make_rows(1_500, 2)
    X_test, y_test = make_rows(2_000, 3)
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test)


@pytest.fixture(scope="session")
def trained(splits: Splits) -> TrainedModel:
    return train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val, FAST_PARAMS)


@pytest.fixture(scope="session")
def migrated_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its schema created once (migrations take ~5 s)."""
    folder = tmp_path_factory.mktemp("mlflow_template")
    MlflowResource(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").champion_version()
    return folder / "mlflow.db"


@pytest.fixture
def mlflow_resource(tmp_path: Path, migrated_mlflow_db: Path) -> MlflowResource:
    """A resource on a fresh store of its own in tmp_path (a copy of the migrated template)."""
    shutil.copyfile(migrated_mlflow_db, tmp_path / "mlflow.db")
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=str(tmp_path / "artifacts"),
        experiment_name="fraud_test",
        registered_model_name="fraud_test_model",
    )
