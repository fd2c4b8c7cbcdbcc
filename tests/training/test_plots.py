"""Evaluation plots are real PNG files, one per plot, and inline as Markdown images."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
from PIL import Image

from fraud_pipelines.training.evaluation import ConfusionMatrix, evaluate
from fraud_pipelines.training.plots import markdown_image, plot_feature_importance, save_evaluation_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_all_evaluation_plots_are_written_as_png(tmp_path, splits, trained):
    scores = trained.predict_proba(splits.X_test)
    evaluation = evaluate(splits.y_test, scores, threshold=trained.threshold)
    plots = save_evaluation_plots(
        tmp_path / "plots",
        y_true=splits.y_test,
        scores_by_model={"xgboost": scores, "baseline": np.full(len(scores), 0.5)},
        confusion=evaluation.confusion,
        importance=trained.feature_importance(),
    )
    assert set(plots) == {"pr_curve", "roc_curve", "confusion_matrix", "feature_importance"}
    for name, path in plots.items():
        assert path.parent == tmp_path / "plots" and path.name == f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as image:
            assert image.width >= 300 and image.height >= 200


def test_feature_importance_plot_keeps_only_the_top_features(tmp_path):
    importance = pd.Series({f"f{i}": float(i) for i in range(40)}, name="total_gain")
    few = plot_feature_importance(importance, tmp_path / "few.png", top_n=5)
    many = plot_feature_importance(importance, tmp_path / "many.png", top_n=30)
    with Image.open(few) as small, Image.open(many) as tall:
        assert tall.height > small.height  # the figure grows with the number of bars shown


def test_markdown_image_inlines_the_png_bytes(tmp_path):
    path = save_evaluation_plots(
        tmp_path, y_true=[0, 1, 0, 1], scores_by_model={"m": [0.1, 0.9, 0.2, 0.8]},
        confusion=ConfusionMatrix(tn=2, fp=0, fn=0, tp=2),
    )["confusion_matrix"]
    markdown = markdown_image(path, "confusion")
    assert markdown.startswith("![confusion](data:image/png;base64,")
    payload = markdown.split(",", 1)[1].rstrip(")")
    assert base64.b64decode(payload) == path.read_bytes()


def test_curves_drawn_with_the_evaluations_areas_are_the_same_images(tmp_path, splits, trained):
    """The areas the evaluation computed are shown as they are (not computed again on the rows): same PNG bytes;
    an evaluation of other scores would show its own area, so the images would differ."""
    scores = {"xgboost": trained.predict_proba(splits.X_test), "baseline": splits.X_test["x0"].rank(pct=True)}
    evaluations = {name: evaluate(splits.y_test, s, threshold=0.5, name=name) for name, s in scores.items()}
    common = {"y_true": splits.y_test, "scores_by_model": scores, "confusion": evaluations["xgboost"].confusion}
    computed = save_evaluation_plots(tmp_path / "computed", **common)
    given = save_evaluation_plots(tmp_path / "given", **common, evaluations=evaluations)
    for name in ("pr_curve", "roc_curve"):
        assert given[name].read_bytes() == computed[name].read_bytes(), name
    swapped = {"xgboost": evaluations["baseline"], "baseline": evaluations["xgboost"]}
    other = save_evaluation_plots(tmp_path / "other", **common, evaluations=swapped)
    assert other["pr_curve"].read_bytes() != computed["pr_curve"].read_bytes()
