"""The layer contracts in pyproject.toml ([tool.importlinter]) hold for the code, and bite: a
scratch module with a forbidden import, added to a copy of the packages, breaks its contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fraud_pipelines", "feature_logic")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `project`, with the project's own configuration."""
    env = {**os.environ, "PYTHONPATH": str(project), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml that a test may add scratch modules to."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_copy_without_scratch_modules_keeps_every_contract(project_copy: Path) -> None:
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    "scratch, source, contract",
    [
        ("fraud_pipelines/feature_store/_scratch.py", "import dagster\n",
         "The feature store knows nothing of Dagster"),
        ("fraud_pipelines/feature_store/_scratch.py", "from fraud_pipelines.settings import fraud_home\n",
         "The feature store knows nothing of Dagster"),
        ("fraud_pipelines/feature_store/_scratch.py", "from feature_logic import schema\n",
         "The feature store knows nothing of Dagster"),
        ("feature_logic/_scratch.py", "from fraud_pipelines.feature_store import FeatureStore\n",
         "feature_logic imports nothing of fraud_pipelines"),
        ("fraud_pipelines/serving/scorer.py", "import dagster as dg\n",
         "The REST service starts without Dagster"),
        ("fraud_pipelines/serving/__init__.py", "import dagster as dg\n",
         "The REST service starts without Dagster"),
        ("fraud_pipelines/serving/champion.py", "from fraud_pipelines.resources import MlflowResource\n",
         "The REST service starts without Dagster"),  # through a module that imports Dagster
        ("fraud_pipelines/scoring/_scratch.py", "from fraud_pipelines.raw.assets import raw_transactions\n",
         "scoring does not import other areas' asset modules"),
        ("fraud_pipelines/automation/_scratch.py", "from fraud_pipelines.training import assets\n",
         "automation does not import other areas' asset modules"),
    ],
)  # fmt: skip
def test_a_forbidden_import_breaks_its_contract(project_copy: Path, scratch: str, source: str, contract: str) -> None:
    """`scratch` is a new module, or an existing one replaced by the wrong import."""
    (project_copy / scratch).write_text(f'"""A deliberately wrong import."""\n\n{source}')
    result = lint_imports(project_copy)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    scratch_module = scratch.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert f"{contract}" in broken and scratch_module in broken, result.stdout[-3000:]


def test_the_store_contract_names_every_other_top_level_module() -> None:
    """A new module of fraud_pipelines is forbidden to the feature store from the day it exists."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    store = next(c for c in config["contracts"] if c["id"] == "store-standalone")
    package = ROOT / "fraud_pipelines"
    modules = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    expected = {f"fraud_pipelines.{m}" for m in modules - {"feature_store"}}
    assert expected <= set(store["forbidden_modules"]), sorted(expected - set(store["forbidden_modules"]))


def test_the_serving_contract_names_every_service_module() -> None:
    """The service's contract lists its modules one by one (assets.py, the Dagster code that writes the
    card state, is the one left out), so a new module of the service is held to it from the day it exists."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    serving = next(c for c in config["contracts"] if c["id"] == "serving-without-dagster")
    package = ROOT / "fraud_pipelines" / "serving"
    modules = {"fraud_pipelines.serving"} | {f"fraud_pipelines.serving.{p.stem}" for p in package.glob("*.py")
                                             if p.stem != "__init__"}
    assert not [p for p in package.iterdir() if (p / "__init__.py").exists()], "subpackages need their own entry"
    assert set(serving["source_modules"]) == modules - {"fraud_pipelines.serving.assets"}
    assert serving["as_packages"] is False and serving["forbidden_modules"] == ["dagster"]
