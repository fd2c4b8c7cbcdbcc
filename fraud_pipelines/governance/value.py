"""What a model's decisions are worth: fraud amount caught and missed, false alerts and what
reviewing them costs, per model version and scored day.

net value = amount caught - false alerts x review cost. Every alert is reviewed, but a true alert's
review pays for itself in the fraud it stops; a false alert's review is the cost of the model."""

from __future__ import annotations

import numpy as np
import pandas as pd

VALUE_COLUMNS = ["role", "model_version", "day", "charges", "frauds", "alerts", "caught", "fraud_amount_caught",
                 "fraud_amount_missed", "false_alerts", "review_cost", "net_value"]


def value_by_day(scored: pd.DataFrame, labels: pd.DataFrame, amounts: pd.DataFrame, *,
                 review_cost: float) -> pd.DataFrame:
    """One row per (role, model_version, day) of labelled scored charges.

    `scored`: tid, day, decision, model_version and optionally role (default "champion");
    `labels`: tid, is_fraud; `amounts`: tid, amount. Charges without a label are left out.
    """
    if review_cost < 0:
        raise ValueError(f"review_cost must be 0 or more, got {review_cost}")
    frame = scored.merge(labels[["tid", "is_fraud"]], on="tid", how="inner")
    frame = frame.merge(amounts[["tid", "amount"]], on="tid", how="left")
    if frame["amount"].isna().any():
        sample = frame.loc[frame["amount"].isna(), "tid"].head(5).tolist()
        raise ValueError(f"no amount for {int(frame['amount'].isna().sum())} scored charges (tids {sample})")
    if "role" not in frame.columns:
        frame["role"] = "champion"
    fraud, alert = frame["is_fraud"].astype(np.int64) == 1, frame["decision"].astype(np.int64) == 1
    frame = frame.assign(
        frauds=fraud.astype(np.int64), alerts=alert.astype(np.int64), caught=(fraud & alert).astype(np.int64),
        false_alerts=(~fraud & alert).astype(np.int64),
        fraud_amount_caught=frame["amount"].where(fraud & alert, 0.0),
        fraud_amount_missed=frame["amount"].where(fraud & ~alert, 0.0),
    )
    grouped = frame.groupby(["role", "model_version", "day"], sort=True).agg(
        charges=("tid", "size"), frauds=("frauds", "sum"), alerts=("alerts", "sum"), caught=("caught", "sum"),
        fraud_amount_caught=("fraud_amount_caught", "sum"), fraud_amount_missed=("fraud_amount_missed", "sum"),
        false_alerts=("false_alerts", "sum"),
    ).reset_index()
    grouped["review_cost"] = grouped["false_alerts"] * float(review_cost)
    grouped["net_value"] = grouped["fraud_amount_caught"] - grouped["review_cost"]
    return grouped[VALUE_COLUMNS]


def value_by_version(by_day: pd.DataFrame) -> pd.DataFrame:
    """The per-day value summed per (role, model_version), with the days it covers."""
    sums = ["charges", "frauds", "alerts", "caught", "fraud_amount_caught", "fraud_amount_missed", "false_alerts",
            "review_cost", "net_value"]
    totals = by_day.groupby(["role", "model_version"], sort=True)[sums].sum()
    totals.insert(0, "days", by_day.groupby(["role", "model_version"], sort=True)["day"].nunique())
    return totals.reset_index()
