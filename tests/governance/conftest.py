"""The training tests' seeded synthetic split, trained model and pre-migrated MLflow store, shared here."""

from tests.training.conftest import (  # noqa: F401
    FAST_PARAMS,
    Splits,
    make_rows,
    migrated_mlflow_db,
    mlflow_resource,
    splits,
    trained,
)
