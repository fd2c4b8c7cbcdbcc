"""Where the project keeps everything it writes: one folder, `$FRAUD_HOME` (default `.fraud/`).

Deleting that folder resets the project. The same root may be an object-store URI
(`s3://bucket/fraud`); only Dagster's own storage and the SQLite stores need a local folder.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

DEFAULT_HOME = ".fraud"
#: First day of the daily partitions (UTC); override with FRAUD_START_DATE=YYYY-MM-DD.
DEFAULT_START_DATE = "2025-01-01"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def is_uri(location: str) -> bool:
    """True for object-store locations such as `s3://...`, false for local paths."""
    return "://" in location and not location.startswith("file://")


def fraud_home() -> str:
    """The project's root folder (absolute for local paths), from `$FRAUD_HOME`."""
    home = os.environ.get("FRAUD_HOME") or DEFAULT_HOME
    return home if is_uri(home) else str(Path(home).expanduser().resolve())


def local_home() -> Path:
    """A local folder for what cannot live on an object store (Dagster storage, SQLite files)."""
    home = fraud_home()
    if is_uri(home):
        return Path(os.environ.get("FRAUD_LOCAL_HOME", DEFAULT_HOME)).expanduser().resolve()
    return Path(home)


def start_date() -> date:
    """First day of the daily partitions: `$FRAUD_START_DATE`, else the data contract's `start_date`,
    else the first day its daily files' names cover, else DEFAULT_START_DATE. (`cli run` records the
    start in the kept contract, so files of any layout get theirs too.)"""
    explicit = os.environ.get("FRAUD_START_DATE")
    if explicit:
        try:
            return date.fromisoformat(explicit)
        except ValueError:
            raise ValueError(f"FRAUD_START_DATE={explicit!r} is not a date as YYYY-MM-DD") from None
    from fraud_pipelines import contract as contracts

    contract = contracts.active()
    if contract.start_date is not None:
        return contract.start_date
    if contract.source == "files" and contract.table("transactions").layout == "daily":
        from fraud_pipelines.raw.sources import FileSource  # file names only: nothing is read

        try:
            days = FileSource(contract, f"{fraud_home()}/landing").landed_days()
        except (OSError, ValueError):
            days = []
        if days:
            return days[0]
    return date.fromisoformat(DEFAULT_START_DATE)


#: The layout of what this version stores under $FRAUD_HOME. 2: card numbers stored only as
#: tokens, owners' names dropped, `batch_scores` with reason codes, feature days with lineage.
HOME_FORMAT = 2
_FORMAT_FILE = "format.json"


class HomeFormatError(RuntimeError):
    """$FRAUD_HOME holds data this version cannot continue."""


def check_home_format() -> None:
    """Refuse a $FRAUD_HOME written by an earlier, incompatible version (appending to it would mix
    card numbers in clear with tokens); stamp a new home with this version's format."""
    home = local_home()
    marker = home / _FORMAT_FILE
    if marker.exists():
        stored = json.loads(marker.read_text()).get("format")
        if stored != HOME_FORMAT:
            raise HomeFormatError(f"{home} holds data of storage format {stored}; this version writes format "
                                  f"{HOME_FORMAT}. Use another FRAUD_HOME, or `make clean` (deletes {home}) "
                                  "and run again.")
        return
    written = [name for name in ("raw", "feature_store", "scores") if (home / name).exists()]
    if written:
        raise HomeFormatError(
            f"{home} holds data ({', '.join(written)}) written by an earlier version of fraud_pipelines, which stored "
            "card numbers in clear and kept no feature-day lineage; this version cannot continue it. Use another "
            f"FRAUD_HOME (e.g. FRAUD_HOME=.fraud-2 make demo), or `make clean` (deletes {home}) and run again.")
    home.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"format": HOME_FORMAT}) + "\n")


def ensure_dagster_home() -> Path:
    """Point `$DAGSTER_HOME` into `$FRAUD_HOME` (unless set) and install the repo's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or local_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    template = _REPO_ROOT / "dagster.yaml"
    if template.exists() and not config.exists():
        shutil.copyfile(template, config)
    return home
