"""Training data for a recent range reads only the joined groups' files inside that range when that is
provably enough: the files of older days can be gone and the rows are the same; a spine key whose only
joined row is older makes the read reach back for it."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pandas as pd
import pytest

from fraud_pipelines.feature_store import FeatureStore

from .conftest import DAY0, transactions

DAYS = 4


def build(store: FeatureStore) -> dict:
    """Labels and charges on tid, and a per-card group on cc_num, one commit per day (one file each)."""
    labels = store.get_or_create_feature_group("labels", primary_key=["tid"], event_time="datetime")
    tx = store.get_or_create_feature_group("tx", primary_key=["tid"], event_time="datetime")
    cards = store.get_or_create_feature_group("cards", primary_key=["cc_num"], event_time="datetime")
    for day in range(DAYS):
        charges = transactions(day)
        labels.insert(charges[["tid", "cc_num", "datetime"]].assign(is_fraud=(charges.tid % 7 == 0).astype("int8")))
        tx.insert(charges[["tid", "cc_num", "datetime", "category", "amount"]])
        firsts = charges.groupby("cc_num").head(1)[["cc_num", "datetime"]].assign(level=day)
        cards.insert(firsts if day == 0 else firsts[firsts.cc_num == 1])  # most cards: one row, on day 0
    return {"labels": labels, "tx": tx, "cards": cards}


def view(store: FeatureStore, groups: dict, *, cards: bool):
    query = groups["labels"].select_all().join(groups["tx"].select(["amount"]), on=["tid"])
    if cards:
        query = query.join(groups["cards"].select(["level"]), on=["cc_num"])
    return store.get_or_create_feature_view(f"v_{int(cards)}", query=query, labels=["is_fraud"])


def files_before(group, end: pd.Timestamp) -> list[str]:
    """Local paths of the group's data files whose rows all lie before `end`."""
    snapshot = group._table.snapshot()
    older = snapshot.table.file_uris(file_pruning_predicate=[(group.event_time, "<", end.to_pydatetime())])
    return [urlparse(uri).path if uri.startswith("file:") else uri for uri in older]


def last_day(view_) -> pd.DataFrame:
    x, y = view_.training_data(DAY0 + pd.Timedelta(days=DAYS - 1), DAY0 + pd.Timedelta(days=DAYS), primary_key=True)
    return x.assign(is_fraud=y.to_numpy()).sort_values("tid").reset_index(drop=True)


def test_a_recent_range_reads_no_older_file_of_a_joined_group(store: FeatureStore) -> None:
    groups = build(store)
    tid_view = view(store, groups, cards=False)
    expected = last_day(tid_view)
    assert len(expected) == 40 and expected["amount"].notna().all()
    older = files_before(groups["tx"], DAY0 + pd.Timedelta(days=DAYS - 1))
    assert len(older) == DAYS - 1
    for path in older:  # the older days' files are gone: a read of them would fail
        os.remove(path)
    pd.testing.assert_frame_equal(last_day(tid_view), expected, check_exact=True)


def test_a_key_last_seen_before_the_range_is_still_joined(store: FeatureStore) -> None:
    groups = build(store)
    card_view = view(store, groups, cards=True)
    got = last_day(card_view)
    # most cards' only row in `cards` is from day 0, older than the range
    assert (got["level"] == 0).any() and got["level"].notna().all()
    spine = groups["labels"].read(DAY0 + pd.Timedelta(days=DAYS - 1)).sort_values("datetime")
    oracle = pd.merge_asof(spine, groups["cards"].read().sort_values("datetime"), on="datetime", by="cc_num")
    assert got["level"].tolist() == oracle.sort_values("tid")["level"].tolist()
    for path in files_before(groups["cards"], DAY0 + pd.Timedelta(days=DAYS - 1)):
        os.remove(path)
    with pytest.raises(Exception, match=r"(?i)no files found|no such file"):
        last_day(card_view)  # the rows it needs are in the older files: the read reaches back for them
