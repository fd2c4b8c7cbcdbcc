"""The service's settings refuse what would weaken it: a write token equal to the scoring token, a
clock skew that could push real charges out of a card's window, tiny body limits; a malformed
variable stops `python -m fraud_pipelines.serving` with a message, before any worker starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fraud_pipelines.serving.settings import ServingSettings

from .processes import REPO


@pytest.mark.parametrize(("variables", "message"), [
    ({"FRAUD_SERVING_TOKEN": "same", "FRAUD_SERVING_WRITE_TOKEN": "same"}, "must differ"),
    ({"FRAUD_SERVING_MAX_SKEW_SECONDS": "7200"}, "MAX_SKEW_SECONDS must be in [0, 3600]"),
    ({"FRAUD_SERVING_MAX_SKEW_SECONDS": "soon"}, "must be a number"),
    ({"FRAUD_SERVING_MAX_BODY_BYTES": "100"}, "MAX_BODY_BYTES must be >= 1024"),
    ({"FRAUD_SERVING_MAX_BATCH": "0"}, "MAX_BATCH must be >= 1"),
])
def test_weakening_or_malformed_settings_are_refused(monkeypatch, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ServingSettings.from_env()


def test_defaults(monkeypatch):
    for name in ("FRAUD_SERVING_TOKEN", "FRAUD_SERVING_WRITE_TOKEN", "FRAUD_SERVING_MAX_BODY_BYTES",
                 "FRAUD_SERVING_MAX_SKEW_SECONDS", "FRAUD_SERVING_MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    settings = ServingSettings.from_env()
    assert settings.write_token is None and settings.max_body_bytes == 1_000_000
    assert settings.max_skew_seconds == 300.0 and settings.max_batch == 1_000


def test_the_command_stops_on_a_bad_variable_before_serving(tmp_path):
    home = tmp_path / "home"
    env = {"PATH": "/usr/bin:/bin", "FRAUD_HOME": str(home), "FRAUD_SERVING_MAX_BATCH": "many",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-m", "fraud_pipelines.serving"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    expected = "Cannot serve: FRAUD_SERVING_MAX_BATCH must be a whole number, got 'many'"
    assert done.returncode == 2 and done.stderr.strip() == expected
    assert not home.exists()  # nothing was created
