"""Batch and REST paths give the same calibrated probability: the service's own model object
(`load_serving_model`: the booster's in-place prediction on float64 vectors) with the registered
version's calibrator equals batch scoring's `fraud_score`, bit for bit."""

from __future__ import annotations

import numpy as np

from fraud_pipelines.scoring.assets import scores_table
from fraud_pipelines.serving.champion import load_serving_model
from fraud_pipelines.training import fraud_view


def test_rest_path_scores_then_calibrated_equal_batch_scores(home):
    fs = home.storage.feature_store()
    champion = home.mlflow.get_champion()
    loaded = home.mlflow.load_version(champion.version)
    assert loaded.calibrator.kind in ("platt", "isotonic")
    served = load_serving_model(home.mlflow, fs, champion.version)

    fv = fs.get_feature_view(fraud_view.NAME, fraud_view.VERSION)
    rows = fv.get_train_validation_test_split(int(champion.training_dataset_version), primary_key=True)[2]
    batch = scores_table(home.storage).read().set_index("tid")
    rows = rows[rows["tid"].isin(batch.index)].head(300)
    assert len(rows) > 100
    vectors = rows[list(served.feature_names)].to_numpy(dtype=np.float64).tolist()
    rest = served.predict(vectors)
    if getattr(served, "calibrator", None) is None:
        # the service does not apply the calibrator itself yet: its trees' output goes through the
        # version's calibrator, as `LoadedModel.predict_proba` does for batch scoring
        rest = loaded.calibrator.transform(rest)

    expected = batch.loc[rows["tid"], "fraud_score"].to_numpy()
    assert rest.tobytes() == expected.tobytes()
    assert rest.tobytes() == loaded.predict_proba(rows).tobytes()
    assert not np.array_equal(rest, loaded.raw_proba(rows))  # the calibration does change the score


def test_one_row_path_gives_the_batch_scores_bits(home):
    """/predict's path for a request alone (`predict_one`: the tree walk and the calibration on Python
    floats) gives each row the bits batch scoring gives it."""
    fs = home.storage.feature_store()
    champion = home.mlflow.get_champion()
    served = load_serving_model(home.mlflow, fs, champion.version)
    assert served._calibrate_one is not None  # the champion's Platt curve is reproduced, not left to numpy
    fv = fs.get_feature_view(fraud_view.NAME, fraud_view.VERSION)
    rows = fv.get_train_validation_test_split(int(champion.training_dataset_version), primary_key=True)[2]
    batch = scores_table(home.storage).read().set_index("tid")
    rows = rows[rows["tid"].isin(batch.index)].head(300)
    vectors = rows[list(served.feature_names)].to_numpy(dtype=np.float64).tolist()
    one_by_one = np.array([served.predict_one(vector) for vector in vectors], dtype=np.float64)
    assert one_by_one.tobytes() == batch.loc[rows["tid"], "fraud_score"].to_numpy().tobytes()
