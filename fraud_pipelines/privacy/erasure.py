"""Right to erasure: every row of one card removed from every store under `$FRAUD_HOME`.

In order: (1) the card's charges (tids) are looked up in the raw transactions; (2) the online store
drops the card's rows (keyed by card or by charge); (3) every training dataset version is frozen
without those charges (its pinned Delta versions are about to go, see `feature_store.history`);
(4) every Delta table holding the card's token or charges gets a DELETE and loses its older versions,
the raw transactions last; (5) every file is searched for the token, MLflow's store and Dagster's run
history included (by design they hold no card column: models see features only, previews and
statistics leave the card out). Running it again finds nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from fraud_pipelines.feature_store.history import delete_for_good
from fraud_pipelines.privacy.scan import Finding, scan
from fraud_pipelines.privacy.tokens import CARD_COLUMN
from fraud_pipelines.storage import Storage

#: Folders of `$FRAUD_HOME` that hold files as they arrived (the card number in clear): the owner's
#: own landing zone, which the erasure neither reads nor changes.
INCOMING = ("landing", "inbox")
#: The spine key of the feature view: training rows are erased by the card's transaction ids.
CHARGE_KEY = "tid"


@dataclass
class ErasureReport:
    """What an erasure removed, per store, and any trace of the token left afterwards."""

    token: int
    charges: int = 0
    delta_rows: dict[str, int] = field(default_factory=dict)
    online_rows: dict[str, int] = field(default_factory=dict)
    training_datasets: dict[str, dict[str, int]] = field(default_factory=dict)
    remaining: list[Finding] = field(default_factory=list)

    @property
    def removed_anything(self) -> bool:
        return any(self.delta_rows.values()) or any(self.online_rows.values())

    def describe(self) -> str:
        """The report as lines for people (the token only, never the card number)."""
        lines = [f"Card token {self.token}: {self.charges:,} charge(s) found"]
        if not self.removed_anything:
            lines.append("  nothing to remove: no table or online row holds this card (already erased, or never seen)")
        for table, rows in sorted(self.delta_rows.items()):
            lines.append(f"  Delta table {table}: {rows:,} row(s) deleted, older versions dropped")
        for table, rows in sorted(self.online_rows.items()):
            lines.append(f"  online table {table}: {rows:,} row(s) deleted")
        for name, splits in sorted(self.training_datasets.items()):
            shown = ", ".join(f"{split} {n:,}" for split, n in splits.items())
            lines.append(f"  training dataset {name}: frozen without the card (rows removed: {shown})")
        if self.remaining:
            lines.append(f"  STILL FOUND in {len(self.remaining)} place(s): " + "; ".join(map(str, self.remaining[:5])))
        else:
            lines.append("  verified: no file under $FRAUD_HOME outside landing/inbox holds the token")
        return "\n".join(lines)


class ErasureIncomplete(RuntimeError):
    """The token is still found after the erasure; the message names where."""


def forget(token: int, storage: Storage | None = None, *, reason: str = "erasure request",
           log: Callable[[str], None] = lambda _: None, records: Iterable[str | Path] = ()) -> ErasureReport:
    """Erase the card with `token` everywhere (see the module docstring); raises ErasureIncomplete when
    the final scan still finds the token outside `records` (the files of the erasure's own run record,
    which hold the token it was asked to erase)."""
    storage = storage or Storage()
    home = Path(storage.location)
    if not home.is_dir():
        raise ValueError(f"{storage.location}: erasure walks a local $FRAUD_HOME; object-store roots are not "
                         "supported yet")
    report = ErasureReport(token=token)
    tids = _card_charges(storage, token)
    report.charges = len(tids)
    # The raw transactions go last: they are where the card's charges are found, so an erasure stopped
    # half-way finds them again when it is run once more.
    transactions = storage.raw_table("transactions").uri
    tables = sorted(_delta_tables(home), key=lambda uri: Path(uri) == Path(transactions))
    report.online_rows = _forget_online(storage, token, tids)
    if any(_holds(uri, token, tids) for uri in tables):
        fs = storage.feature_store()
        for name, version in fs.feature_views():
            view = fs.get_feature_view(name, version)
            removed = view.erase_from_training_data(CHARGE_KEY, tids, reason=reason)
            for dataset, splits in removed.items():
                report.training_datasets[f"{name} v{version} / v{dataset}"] = splits
            log(f"training datasets of {name} v{version} frozen without the card")
        for uri in tables:
            predicate = _predicate(uri, token, tids)
            if predicate is None:
                continue
            result = delete_for_good(uri, predicate, storage.storage_options)
            if result["rows_deleted"]:
                report.delta_rows[str(Path(uri).relative_to(home))] = result["rows_deleted"]
                log(f"{uri}: {result['rows_deleted']:,} row(s) deleted")
    allowed = {Path(r).resolve() for r in records}
    report.remaining = [f for f in scan(home, [token], skip=INCOMING) if Path(f.path).resolve() not in allowed]
    if report.remaining:
        raise ErasureIncomplete(report.describe())
    return report


def _card_charges(storage: Storage, token: int) -> list[Any]:
    """The transaction ids of the card's charges (raw transactions; they are unique across days)."""
    table = storage.raw_table("transactions")
    if not table.exists():
        return []
    from deltalake import DeltaTable

    delta = DeltaTable(table.uri, storage_options=storage.storage_options)
    reader = pa.RecordBatchReader.from_stream(delta.scan(columns=[CHARGE_KEY], predicate=f"{CARD_COLUMN} = {token}"))
    return reader.read_all().column(CHARGE_KEY).to_pylist()


def _delta_tables(home: Path) -> list[str]:
    skipped = [home / name for name in INCOMING]
    found = [p.parent for p in home.rglob("_delta_log") if p.is_dir()]
    return sorted(str(p) for p in found if not any(p.is_relative_to(s) for s in skipped))


def _predicate(uri: str, token: int, tids: list[Any]) -> str | None:
    from deltalake import DeltaTable

    names = set(DeltaTable(uri).schema().to_arrow().names)
    parts = []
    if CARD_COLUMN in names:
        parts.append(f"{CARD_COLUMN} = {int(token)}")
    if CHARGE_KEY in names and tids:
        parts.append(f"{CHARGE_KEY} IN ({', '.join(_literal(t) for t in tids)})")
    return " OR ".join(parts) or None


def _holds(uri: str, token: int, tids: list[Any]) -> bool:
    from fraud_pipelines.feature_store.history import count_rows

    predicate = _predicate(uri, token, tids)
    return predicate is not None and count_rows(uri, predicate) > 0


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def _forget_online(storage: Storage, token: int, tids: list[Any]) -> dict[str, int]:
    """Delete the card's online rows: keyed by the card, or by one of its charges."""
    fs = storage.feature_store()
    store = fs.online_store
    removed = {}
    for name, version in fs.feature_groups():
        group = fs.get_feature_group(name, version)
        if not group.online_enabled:
            continue
        key = tuple(group.primary_key)
        keys = [(token,)] if key == (CARD_COLUMN,) else [(t,) for t in tids] if key == (CHARGE_KEY,) else []
        if keys:
            count = store.delete(group.online_table(), keys)
            if count:
                removed[group.spec.table_name] = count
    return removed
