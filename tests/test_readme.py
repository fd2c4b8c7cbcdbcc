"""The README's promises are checked, not hoped for: commands, the feature list, the PIT rule."""

from __future__ import annotations

from pathlib import Path

from feature_logic.transactions import FEATURE_DESCRIPTIONS as TRANSACTION_FEATURES
from feature_logic.windows import FEATURE_DESCRIPTIONS as WINDOW_FEATURES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
IDENTITY = {"tid", "cc_num", "datetime", "category", "amount", "latitude", "longitude"}


def test_setup_commands_are_the_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "ui"):
        assert f"make {target}" in README
        assert f"\n{target}:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_feature_is_listed():
    for name in {**TRANSACTION_FEATURES, **WINDOW_FEATURES}.keys() - IDENTITY:
        assert f"`{name}`" in README, name


def test_point_in_time_rule_is_stated():
    assert "greatest event time" in README and "<= t" in README


def test_the_contract_example_is_a_valid_contract_and_every_key_is_documented():
    import re

    import yaml

    from fraud_pipelines import contract as contracts

    example = re.search(r"```yaml\n(name: foreign_bank.*?)```", README, re.S).group(1)
    parsed = contracts.parse(yaml.safe_load(example))
    assert parsed.tid_type == "string" and parsed.labels_from_transactions.column == "fraud_label"
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", README, re.M))
    keys = set(contracts.DataContract.model_fields) - {"base_dir", "tables"}
    assert keys | set(contracts.TableContract.model_fields) <= documented
    assert "make run" in README and "\nrun:" in (ROOT / "Makefile").read_text()
