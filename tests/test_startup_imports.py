"""What a step process pays before it starts: loading the definitions imports no heavy library a step
may not use, and validating rows that pass imports no Great Expectations. Each check runs in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Imported by the steps that need them (training, scoring, serving, validation of failing rows), never
#: by loading the definitions.
HEAVY = ("sklearn", "scipy", "xgboost", "mlflow", "optuna", "great_expectations", "matplotlib", "shap",
         "fastapi", "uvicorn")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_DEFINITIONS = f"""
import builtins, json, sys
HEAVY = {HEAVY!r}
importers = set()
real_import = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    # every import statement of a heavy package executed by project code, whether or not it is loaded yet
    caller = (globals or {{}}).get("__name__", "")
    if level == 0 and name.split(".")[0] in HEAVY and caller.startswith(("fraud_pipelines", "feature_logic")):
        importers.add((caller, name))
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = spy
import fraud_pipelines.definitions
print(json.dumps({{"loaded": sorted(h for h in HEAVY if h in sys.modules), "importers": sorted(importers)}}))
"""


def test_loading_the_definitions_imports_no_heavy_library():
    result = _run(_DEFINITIONS)
    assert result["importers"] == [], result["importers"]  # no project module imports one at its top
    assert result["loaded"] == [], result


_VALIDATION = """
import json, sys, tempfile
from datetime import datetime, timezone

from fraud_pipelines.feature_store import FeatureStore
from fraud_pipelines.feature_store.validation import validate
from fraud_pipelines.features import groups
from fraud_pipelines.raw import suites
from tests.feature_store.test_quick_checks import good_features
from tests.raw.samples import good_transactions

start, end = datetime(2025, 1, 2, tzinfo=timezone.utc), datetime(2025, 1, 3, tzinfo=timezone.utc)
out = {}
out["raw_passed"] = validate(good_transactions(), suites.transactions_suite(start, end), suite_name="raw",
                             id_columns=["tid"]).to_dict()
with tempfile.TemporaryDirectory() as root:
    group = groups.TRANSACTIONS.for_writing(FeatureStore(root))
    out["insert_validation"] = group.insert(good_features(), replace_time_range=(start, end))["validation"]
out["ge_after_passing"] = "great_expectations" in sys.modules
bad = good_transactions()
bad.loc[1, "amount"] = -4.0
out["failed"] = validate(bad, suites.transactions_suite(start, end), suite_name="raw", id_columns=["tid"]).to_dict()
out["ge_after_failing"] = "great_expectations" in sys.modules
print(json.dumps(out))
"""


def test_passing_rows_are_validated_without_great_expectations():
    """A raw suite and a feature group's strict insert pass without importing GE; a failing frame still
    gets GE's own failure: expectation, column, count and the offending row."""
    result = _run(_VALIDATION)
    assert result["raw_passed"]["success"] and result["raw_passed"]["evaluated"] > 10
    assert result["insert_validation"]["success"] and result["insert_validation"]["evaluated"] > 5
    assert result["ge_after_passing"] is False
    assert result["ge_after_failing"] is True
    [failure] = result["failed"]["failures"]
    assert failure["expectation"] == "expect_column_values_to_be_between" and failure["column"] == "amount"
    assert failure["unexpected_count"] == 1 and failure["sample"] == [{"amount": -4.0, "tid": 2}]
    assert "failed for 1 of 3 rows" in failure["message"]
