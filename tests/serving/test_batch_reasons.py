"""Batch scoring's reason codes on a real home: explaining every charge, only alerts or none gives
the same scores bit for bit (every charge explained, one XGBoost prediction gives scores and
contributions); alerts carry the texts every charge would; and each charge's reasons are those the
service computes for its vector alone (its one-row walk over the same table), as JSON byte for byte."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from fraud_pipelines.governance.reasons import as_text, reasons_for_vectors
from fraud_pipelines.scoring.batch import VersionScorer
from fraud_pipelines.serving.champion import load_serving_model
from fraud_pipelines.training.model import select_features


def test_every_charge_alerts_or_none_give_the_same_scores_and_the_services_reasons(home):
    fs = home.storage.feature_store()
    champion = home.mlflow.get_champion()
    scorer = VersionScorer.load(home.mlflow, fs, champion.version, champion.training_dataset_version)
    assert scorer.explainer.saabas is not None  # the champion's trees are reproduced by the table
    start, end = datetime(2025, 1, 2, tzinfo=timezone.utc), datetime(2025, 1, 5, tzinfo=timezone.utc)
    scored = {mode: scorer.score(start, end, reasons=mode) for mode in ("all", "alerts", "none")}
    every, alerts, none = scored["all"], scored["alerts"], scored["none"]
    assert len(every) > 1_000
    for frame in (alerts, none):
        assert frame["fraud_score"].to_numpy().tobytes() == every["fraud_score"].to_numpy().tobytes()
        assert frame["tid"].equals(every["tid"]) and frame["decision"].equals(every["decision"])
    assert none["reasons"].isna().all() and every["reasons"].notna().all()
    alerted = alerts["decision"].to_numpy() == 1
    assert 0 < alerted.sum() < len(alerts)
    assert alerts["reasons"][alerted].tolist() == every["reasons"][alerted].tolist()
    assert alerts["reasons"][~alerted].isna().all()
    assert pa.types.is_string(pa.array(every["reasons"]).type)  # Arrow strings, written as they are

    # the service: its own model object, one charge at a time, raw category names as requests give them
    served = load_serving_model(home.mlflow, fs, champion.version)
    assert served.contributions_path == "flat trees"
    spine = scorer.transactions.read(start, end, columns=["tid", *scorer.transformed]).set_index("tid")
    features = scorer.feature_view.get_batch_data(spine=every[["tid", "datetime"]], primary_key=True)
    matrix = select_features(features, served.feature_names).to_numpy(dtype=np.float64, na_value=np.nan)
    for i in range(0, len(every), max(1, len(every) // 150)):
        raw = {name: spine.at[every["tid"].iloc[i], name] for name in scorer.transformed}
        alone = reasons_for_vectors(served, [matrix[i].tolist()], [raw])[0]
        assert as_text(alone) == every["reasons"].iloc[i]
        assert len(json.loads(every["reasons"].iloc[i])) == 3
