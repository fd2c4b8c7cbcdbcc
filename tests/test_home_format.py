"""A FRAUD_HOME written by an earlier, incompatible version is refused with what to do, before
anything is read or written: continuing it would mix card numbers in clear with tokens."""

from __future__ import annotations

import json

import pytest

from fraud_pipelines import cli
from fraud_pipelines.settings import HOME_FORMAT, HomeFormatError, check_home_format


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "fraud_home"
    monkeypatch.setenv("FRAUD_HOME", str(folder))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return folder


def test_a_new_home_is_stamped_and_accepted_again(home):
    check_home_format()
    assert json.loads((home / "format.json").read_text()) == {"format": HOME_FORMAT}
    (home / "raw").mkdir()
    check_home_format()  # its own data, stamped: fine


def test_an_earlier_versions_home_is_refused_by_demo_and_run_naming_what_to_do(home, tmp_path, capsys):
    (home / "raw" / "transactions").mkdir(parents=True)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    assert cli.main(["demo"]) == 2
    message = capsys.readouterr().err
    assert "earlier version" in message and "make clean" in message and str(home) in message
    contract = tmp_path / "c.yaml"
    contract.write_text("name: mine\nsource: files\n")
    assert cli.main(["run", "--contract", str(contract)]) == 2
    assert "earlier version" in capsys.readouterr().err
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # nothing written


def test_another_format_is_refused(home):
    home.mkdir(exist_ok=True)
    (home / "format.json").write_text(json.dumps({"format": HOME_FORMAT + 1}))
    with pytest.raises(HomeFormatError, match=f"format {HOME_FORMAT + 1}"):
        check_home_format()
