"""The feature view the fraud model is trained and scored on: `cc_trans_fraud` v1.

Spine: the `fraud_labels` group (one row per labelled charge). Joined point-in-time on `tid`:
the charge's own row of `transactions` and of `transactions_4h_aggs`. Card numbers,
coordinates, city and sex are left out on purpose: they identify people or places rather than
behaviour, and a model that memorizes them does not generalize (and should not).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fraud_pipelines.features import groups

NAME = "cc_trans_fraud"
VERSION = 1
LABEL = "is_fraud"

TRANSACTION_FEATURES = (
    "category",
    "amount",
    "age_at_transaction",
    "days_until_card_expires",
    "loc_delta_t_minus_1",
    "time_delta_t_minus_1",
)
WINDOW_FEATURES = ("trans_volume_mavg", "trans_volume_mstd", "trans_freq", "loc_delta_mavg")

#: XGBoost needs numbers, not scaled ones: only the categorical feature is encoded (unknown → -1).
TRANSFORMATIONS = {"category": "label_encoder"}
#: DuckDB memory one training read may hold before it spills (the store's default is an eighth of physical memory,
#: 2.9 GB here). The training steps keep the split they read, so the join's working memory adds to it: on 10M
#: charges the 7M-row train split peaked at 4.25 GB with the default, 3.06 GB at 800 MB (the join spills; ~20 % more
#: CPU). `bench/bench_training_steps.py` measures it.
TRAINING_QUERY_MEMORY = "1GB"
#: Overrides `TRAINING_QUERY_MEMORY` (e.g. "3GB"; "default": the store's own limit).
QUERY_MEMORY_ENV = "FRAUD_TRAINING_QUERY_MEMORY"


def training_store(storage: Any) -> Any:
    """The feature store of a `StorageResource` as the training steps read it: each read bounded by
    `TRAINING_QUERY_MEMORY` (or `$FRAUD_TRAINING_QUERY_MEMORY`)."""
    limit = os.environ.get(QUERY_MEMORY_ENV, "") or TRAINING_QUERY_MEMORY
    return storage.feature_store(query_memory_limit=None if limit == "default" else limit)


def sources() -> dict[str, str]:
    """Feature name → the feature group it comes from."""
    return {
        **{f: f"{groups.TRANSACTIONS.name} v{groups.TRANSACTIONS.version}" for f in TRANSACTION_FEATURES},
        **{f: f"{groups.TRANSACTIONS_4H_AGGS.name} v{groups.TRANSACTIONS_4H_AGGS.version}" for f in WINDOW_FEATURES},
    }


def get_or_create(fs: Any) -> Any:
    """The feature view in `fs`, created from the three feature groups on first use."""
    return fs.get_or_create_feature_view(
        NAME,
        VERSION,
        query=_query(fs, TRANSACTION_FEATURES + WINDOW_FEATURES),
        labels=[LABEL],
        transformation_functions=TRANSFORMATIONS,
        description="Labelled charges with their per-charge and 4-hour window features, point-in-time correct.",
    )


def get_or_create_selected(fs: Any, features: Sequence[str], *, description: str = "") -> Any:
    """The version of this view holding exactly `features` (a subset of v1's, kept in v1's order):
    an existing version with those features, or the next version number, created now."""
    features = list(features)
    wanted = [f for f in TRANSACTION_FEATURES + WINDOW_FEATURES if f in set(features)]
    unknown = sorted(set(features) - set(wanted))
    if unknown or not wanted:
        raise ValueError(f"feature view {NAME}: selected features must be a non-empty subset of v{VERSION}'s "
                         f"{list(TRANSACTION_FEATURES + WINDOW_FEATURES)}; unknown: {unknown[:5]}")
    versions = sorted(v for name, v in fs.feature_views() if name == NAME)
    for version in versions:
        if version != VERSION and fs.get_feature_view(NAME, version).feature_names() == wanted:
            return fs.get_feature_view(NAME, version)
    return fs.get_or_create_feature_view(
        NAME,
        max(versions, default=VERSION) + 1,
        query=_query(fs, wanted),
        labels=[LABEL],
        transformation_functions={f: t for f, t in TRANSFORMATIONS.items() if f in wanted},
        description=description or f"v{VERSION} narrowed to the selected features {wanted}",
    )


def _query(fs: Any, features: Sequence[str]) -> Any:
    """Labels joined point-in-time on `tid` with the charge's features and, when any is wanted, its window's."""
    query = groups.FRAUD_LABELS.get_or_create(fs).select(["tid", "datetime", LABEL])
    own = [f for f in TRANSACTION_FEATURES if f in features]
    window = [f for f in WINDOW_FEATURES if f in features]
    if own:
        query = query.join(groups.TRANSACTIONS.get_or_create(fs).select(own), on=["tid"])
    if window:
        query = query.join(groups.TRANSACTIONS_4H_AGGS.get_or_create(fs).select(window), on=["tid"])
    return query


def read_splits(fv: Any, training_dataset_version: int, names: Sequence[str], *, primary_key: bool = False,
                event_time: bool = False) -> list[tuple[Any, Any]]:
    """(X, y) of the named splits of a recorded version, and nothing else: feature selection and tuning
    must not see the test split, and evaluation need not hold train while it reads test. The feature
    store's public getters read every split, so this asks its split reader for these by name."""
    import duckdb

    try:
        return fv._get(training_dataset_version, tuple(names), primary_key, event_time)
    except duckdb.OutOfMemoryException as error:
        raise MemoryError(
            f"reading the {'/'.join(names)} split(s) of {fv.name} v{fv.version} training dataset "
            f"{training_dataset_version} ran out of DuckDB's query memory ({str(error).splitlines()[0][:200]}); "
            f"raise ${QUERY_MEMORY_ENV} (now {os.environ.get(QUERY_MEMORY_ENV, '') or TRAINING_QUERY_MEMORY}, "
            "e.g. 3GB, or 'default' for the store's own limit)") from None


def train_and_validation(fv: Any, training_dataset_version: int, *, event_time: bool = False) -> tuple[Any, ...]:
    """X_train, X_val, y_train, y_val of a recorded version; its test split is not read at all."""
    (x_train, y_train), (x_val, y_val) = read_splits(fv, training_dataset_version, ("train", "validation"),
                                                     event_time=event_time)
    return x_train, x_val, y_train, y_val


def keep_columns(frame: Any, columns: Sequence[str]) -> Any:
    """`frame` holding only `columns`, in that order: dropped in place when it already has them in order
    (no copy of the rows kept: a 7M-row split costs ~0.6 GB a copy), else a selection."""
    columns = list(columns)
    if [c for c in frame.columns if c in set(columns)] != columns:
        return frame[columns]
    for name in [c for c in frame.columns if c not in set(columns)]:
        del frame[name]
    return frame
