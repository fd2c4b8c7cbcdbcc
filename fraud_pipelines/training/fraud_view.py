"""The feature view the fraud model is trained and scored on: `cc_trans_fraud` v1.

Spine: the `fraud_labels` group (one row per labelled charge). Joined point-in-time on `tid`:
the charge's own row of `transactions` and of `transactions_4h_aggs`. Card numbers,
coordinates, city and sex are left out on purpose: they identify people or places rather than
behaviour, and a model that memorizes them does not generalize (and should not).
"""

from __future__ import annotations

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


def sources() -> dict[str, str]:
    """Feature name → the feature group it comes from."""
    return {
        **{f: f"{groups.TRANSACTIONS.name} v{groups.TRANSACTIONS.version}" for f in TRANSACTION_FEATURES},
        **{f: f"{groups.TRANSACTIONS_4H_AGGS.name} v{groups.TRANSACTIONS_4H_AGGS.version}" for f in WINDOW_FEATURES},
    }


def get_or_create(fs: Any) -> Any:
    """The feature view in `fs`, created from the three feature groups on first use."""
    labels = groups.FRAUD_LABELS.get_or_create(fs)
    transactions = groups.TRANSACTIONS.get_or_create(fs)
    aggregates = groups.TRANSACTIONS_4H_AGGS.get_or_create(fs)
    query = (
        labels.select(["tid", "datetime", LABEL])
        .join(transactions.select(list(TRANSACTION_FEATURES)), on=["tid"])
        .join(aggregates.select(list(WINDOW_FEATURES)), on=["tid"])
    )
    return fs.get_or_create_feature_view(
        NAME,
        VERSION,
        query=query,
        labels=[LABEL],
        transformation_functions=TRANSFORMATIONS,
        description="Labelled charges with their per-charge and 4-hour window features, point-in-time correct.",
    )
