"""The training tests' seeded synthetic split and trained model, shared here."""

from tests.training.conftest import FAST_PARAMS, Splits, make_rows, splits, trained  # noqa: F401
