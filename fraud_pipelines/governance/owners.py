"""The card owner's attributes a fairness audit slices by: sex and age band at the charge, read
from the `transactions` feature group, where they were joined point-in-time from the owner's
profile. Read for the audit only: the feature view leaves them out of the model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fraud_pipelines.governance.fairness import UNKNOWN, age_at_charge, age_band

#: Columns of the `transactions` group the audit reads (the age comes through `age_at_charge`).
OWNER_COLUMNS = ("sex", "age_at_transaction")


def owner_slices(transactions: Any, tids: pd.Series, start: Any = None, end: Any = None) -> pd.DataFrame:
    """tid, sex and age band of the given charges (event time in [start, end) narrows the read)."""
    owners = transactions.read(start, end, columns=["tid", *OWNER_COLUMNS])
    owners = owners[owners["tid"].isin(tids)]
    return pd.DataFrame({
        "tid": owners["tid"].to_numpy(),
        "sex": owners["sex"].astype("object").where(owners["sex"].notna(), UNKNOWN).astype(str).to_numpy(),
        "age_band": age_band(age_at_charge(owners)).to_numpy(),
    })
