"""Calibration fitted on validation: it lowers the Brier score on held-out rows, the curve chosen
is the one with the lowest out-of-fold Brier, its state is JSON that gives the same probabilities
bit for bit, and it travels with the model through the registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fraud_pipelines.training.calibration import Calibrator, brier, calibration_on_test, fit_calibrator
from fraud_pipelines.training.model import train_model
from fraud_pipelines.training.registry import CALIBRATION_FILE, Lineage
from fraud_pipelines.training.reliability import reliability_bins

from .conftest import FAST_PARAMS, make_rows

LINEAGE = Lineage(training_dataset_version=1, feature_view_name="fraud_fv", feature_view_version=1)


def test_calibration_improves_brier_on_held_out_rows(splits, trained):
    raw, calibrated = trained.raw_proba(splits.X_test), trained.predict_proba(splits.X_test)
    assert trained.calibrator.kind in ("platt", "isotonic")
    assert brier(splits.y_test, calibrated) < 0.95 * brier(splits.y_test, raw)  # class weights inflate raw scores
    held_out_x, held_out_y = make_rows(3_000, 99)  # rows neither training nor calibration saw
    assert brier(held_out_y, trained.predict_proba(held_out_x)) < brier(held_out_y, trained.raw_proba(held_out_x))
    # the mean calibrated probability is closer to the fraud rate than the raw score, which is above it
    rate = splits.y_test.mean()
    assert abs(calibrated.mean() - rate) < raw.mean() - rate
    report = trained.calibration
    assert report.method == min(report.brier, key=report.brier.get) == trained.calibrator.kind
    assert set(report.brier) == {"platt", "isotonic", "none"}
    assert trained.summary()["calibration_brier_none"] == report.brier["none"]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_each_method_can_be_forced_and_none_keeps_the_raw_score(splits, method):
    from dataclasses import replace

    forced = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                         replace(FAST_PARAMS, calibration=method))
    assert forced.calibrator.kind == method and forced.calibration.method == method
    test = calibration_on_test(forced, splits.X_test, splits.y_test)
    assert test.brier_calibrated < test.brier_raw
    raw = train_model(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                      replace(FAST_PARAMS, calibration="none"))
    np.testing.assert_array_equal(raw.predict_proba(splits.X_test), raw.raw_proba(splits.X_test))


def test_state_is_json_and_gives_the_same_probabilities_bit_for_bit(trained, splits):
    raw = trained.raw_proba(splits.X_test)
    rng = np.random.default_rng(0)
    y = (rng.random(4_000) < 0.05).astype(int)
    scores = np.clip(rng.normal(0.4 + 0.3 * y, 0.2), 0, 1)
    for calibrator in (trained.calibrator, fit_calibrator(y, scores, method="platt")[0],
                       fit_calibrator(y, scores, method="isotonic")[0], Calibrator()):
        again = Calibrator.from_state(json.loads(json.dumps(calibrator.to_state())))
        assert again == calibrator
        assert again.transform(raw).tobytes() == calibrator.transform(raw).tobytes()
        assert again.transform(raw.astype(np.float32)).tobytes() == calibrator.transform(raw).tobytes()
    assert Calibrator.from_state(None) == Calibrator()


@pytest.mark.parametrize(("state", "message"), [
    ({"kind": "beta"}, "unknown calibration kind 'beta'"),
    ({"kind": "isotonic", "x": [0.2, 0.1], "y": [0.0, 1.0]}, "increasing knots"),
])
def test_bad_state_is_refused_by_name(state, message):
    with pytest.raises(ValueError, match=message):
        Calibrator.from_state(state)


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="calibration must be one of"):
        fit_calibrator([0, 1], [0.1, 0.9], method="beta")


def test_the_calibration_travels_with_the_model_through_the_registry(mlflow_resource, trained, splits):
    logged = mlflow_resource.log_training_run(trained, input_example=splits.X_train, transformation_state={},
                                              lineage=LINEAGE)
    folder = Path(logged.model_uri.removeprefix("file://"))
    assert json.loads((folder / CALIBRATION_FILE).read_text()) == trained.calibrator.to_state()
    run = mlflow_resource.client().get_run(logged.run_id)
    assert run.data.params["calibration_method"] == trained.calibrator.kind
    assert run.data.metrics["calibration_brier_none"] == pytest.approx(trained.calibration.brier["none"])
    loaded = mlflow_resource.load_logged(logged)
    assert loaded.calibrator == trained.calibrator
    assert loaded.predict_proba(splits.X_test).tobytes() == trained.predict_proba(splits.X_test).tobytes()
    np.testing.assert_array_equal(loaded.raw_proba(splits.X_test), trained.raw_proba(splits.X_test))

    os.remove(folder / CALIBRATION_FILE)  # a model saved before calibration existed scores as it always did
    older = mlflow_resource.load_logged(logged)
    assert older.calibrator == Calibrator()
    np.testing.assert_array_equal(older.predict_proba(splits.X_test), trained.raw_proba(splits.X_test))


def test_reliability_bins_hold_every_row(splits, trained):
    bins = reliability_bins(splits.y_test, trained.predict_proba(splits.X_test))
    assert sum(rows for _, _, rows in bins) == len(splits.y_test)
    assert all(0 <= predicted <= 1 and 0 <= observed <= 1 for predicted, observed, _ in bins)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_keeps_the_ranking_so_pr_auc_is_unchanged(method):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    y = (rng.random(20_000) < 0.01).astype(int)
    raw = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1).astype(np.float32)
    calibrator, _ = fit_calibrator(y[:10_000], raw[:10_000], method=method)
    held_out, calibrated = raw[10_000:], calibrator.transform(raw[10_000:])
    order = np.argsort(held_out, kind="stable")
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert len(np.unique(calibrated)) == len(np.unique(held_out))  # no new ties
    assert average_precision_score(y[10_000:], calibrated) == pytest.approx(
        average_precision_score(y[10_000:], held_out), abs=1e-12)
