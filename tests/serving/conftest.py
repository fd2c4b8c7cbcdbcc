"""A champion to serve: the real Dagster graph (raw tables -> feature groups -> training ->
registry -> batch scores, plus the serving assets) run once on small synthetic data; each test
module gets its own copy of the resulting $FRAUD_HOME, so what one module writes (card states,
new model versions) never leaks into another."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.raw.checks import RAW_CHECKS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.scoring.assets import SCORING_ASSETS
from fraud_pipelines.serving.assets import SERVING_ASSETS
from fraud_pipelines.training.assets import TRAINING_ASSETS
from fraud_pipelines.training.checks import TRAINING_CHECKS

EVERYTHING = [*RAW_ASSETS, *RAW_CHECKS, *FEATURE_ASSETS, *FEATURE_CHECKS, *TRAINING_ASSETS, *TRAINING_CHECKS,
              *SCORING_ASSETS, *SERVING_ASSETS]
FIRST, LAST = "2025-01-01", "2025-01-10"
SMALL = RawSourceResource(n_cards=300, transactions_per_day=900, horizon_days=20, seed=11, fraud_rate=0.03)


@dataclass(frozen=True)
class Home:
    """One $FRAUD_HOME and the resources pointing at it explicitly (tests' own FRAUD_HOME differs)."""

    path: Path

    @property
    def storage(self) -> StorageResource:
        return StorageResource(root=str(self.path))

    @property
    def mlflow(self) -> MlflowResource:
        return MlflowResource(tracking_uri=f"sqlite:///{self.path / 'mlflow' / 'mlflow.db'}",
                              artifact_location=str(self.path / "mlflow" / "artifacts"))

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a service process serving this home."""
        return {"FRAUD_HOME": str(self.path), "DAGSTER_HOME": str(self.path / "dagster"),
                "FRAUD_SERVING_POLL_SECONDS": "0.3", "FRAUD_ONLINE_STORE": "sqlite", **extra}


def materialize(home: Home, *, selection=None, run_config=None, storage: StorageResource | None = None):
    """The project's assets on the small data set, as `fraud_pipeline_job` runs them."""
    with dg.instance_for_test() as instance:
        return dg.materialize(
            EVERYTHING, instance=instance, selection=selection, run_config=run_config,
            resources={"storage": storage or home.storage, "raw_source": SMALL, "mlflow": home.mlflow},
            tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
        )


@pytest.fixture(scope="package")
def pristine_home(tmp_path_factory) -> Home:
    home = Home(tmp_path_factory.mktemp("serving") / "fraud_home")
    home.path.mkdir()
    result = materialize(home)
    assert result.success and home.mlflow.champion_version() == "1"
    return home


@pytest.fixture(scope="package")
def card_numbers() -> dict[int, int]:
    """Each stored token's card number: clients post card numbers, the stores hold only tokens."""
    from fraud_pipelines.privacy.tokens import tokenizer

    pans = SMALL.source().history("profiles")[0].frame["cc_num"]
    return dict(zip(tokenizer().tokens(pans).tolist(), pans.tolist()))


@pytest.fixture(scope="module")
def home(pristine_home, tmp_path_factory) -> Home:
    """This module's own copy of the served home (MLflow artifacts stay shared, read-only)."""
    copy = Home(tmp_path_factory.mktemp("home") / "fraud_home")
    shutil.copytree(pristine_home.path, copy.path)
    return copy
