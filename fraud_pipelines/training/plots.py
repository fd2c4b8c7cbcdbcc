"""Evaluation plots as PNG files (PR curve, ROC, confusion matrix, feature importance).

Figures are built with matplotlib's object API on an Agg canvas: no pyplot, no global figure
registry, no display needed. The files go to MLflow as artifacts and to Dagster as metadata.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.evaluation import MAX_FPR, ConfusionMatrix, Evaluation, check_labels_and_scores

_SIZE = (6.0, 5.0)
_DPI = 100


def _figure(size: tuple[float, float] = _SIZE) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def plot_pr_curves(y_true: Any, scores_by_model: Mapping[str, Any], path: Path | str, *,
                   pr_aucs: Mapping[str, float] | None = None) -> Path:
    """Precision-recall curves of several scorers on one split, with each one's PR-AUC (`pr_aucs` when the
    evaluation computed them already: on 2M test rows each costs a sort)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure = _figure()
    axes = figure.add_subplot()
    labels = None
    for name, scores in scores_by_model.items():
        labels, probabilities = check_labels_and_scores(y_true, scores)
        precision, recall, _ = precision_recall_curve(labels, probabilities)
        ap = pr_aucs[name] if pr_aucs and name in pr_aucs else average_precision_score(labels, probabilities)
        axes.step(recall, precision, where="post", label=f"{name} (PR-AUC {ap:.3f})")
    if labels is not None:
        axes.axhline(labels.mean(), color="grey", linestyle=":", label=f"fraud rate {labels.mean():.2%}")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall")
    figure.legend(loc="outside lower center", fontsize="small", ncols=2)
    return _save(figure, path)


def plot_roc_curves(y_true: Any, scores_by_model: Mapping[str, Any], path: Path | str, *,
                    roc_aucs: Mapping[str, float] | None = None) -> Path:
    """ROC curves of several scorers on one split, with the 1 % false-positive-rate line (`roc_aucs`: each
    one's ROC-AUC when already computed)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = _figure()
    axes = figure.add_subplot()
    for name, scores in scores_by_model.items():
        labels, probabilities = check_labels_and_scores(y_true, scores)
        fpr, tpr, _ = roc_curve(labels, probabilities)
        auc = roc_aucs[name] if roc_aucs and name in roc_aucs else roc_auc_score(labels, probabilities)
        axes.plot(fpr, tpr, label=f"{name} (ROC-AUC {auc:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axes.axvline(MAX_FPR, color="tab:red", linestyle="--", linewidth=1, label=f"{MAX_FPR:.0%} FPR")
    axes.set(xlabel="false-positive rate", ylabel="recall (true-positive rate)", xlim=(0, 1), ylim=(0, 1.02),
             title="ROC")
    figure.legend(loc="outside lower center", fontsize="small", ncols=2)
    return _save(figure, path)


def plot_confusion_matrix(confusion: ConfusionMatrix, path: Path | str, *, title: str = "Confusion matrix") -> Path:
    """The 2×2 counts at the alert threshold, annotated with counts and row shares."""
    counts = confusion.as_array()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = _figure((4.5, 4.0))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(2):
        for column in range(2):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, f"{counts[row, column]:,}\n{shares[row, column]:.1%}",
                      ha="center", va="center", color=colour)
    axes.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["genuine", "fraud"], yticklabels=["genuine", "fraud"],
             xlabel="predicted", ylabel="actual", title=title)
    figure.colorbar(image, ax=axes, label="share of actual class")
    return _save(figure, path)


def plot_feature_importance(importance: pd.Series, path: Path | str, *, top_n: int = 20) -> Path:
    """A horizontal bar chart of the `top_n` most important features (largest at the top)."""
    top = importance.sort_values(ascending=False, kind="stable").head(top_n)[::-1]
    figure = _figure((6.0, max(2.5, 0.3 * len(top) + 1.0)))
    axes = figure.add_subplot()
    axes.barh([str(name) for name in top.index], top.to_numpy(dtype=float))
    axes.set(xlabel=str(importance.name or "importance"), title=f"Feature importance (top {len(top)})")
    return _save(figure, path)


def save_evaluation_plots(
    out_dir: Path | str,
    *,
    y_true: Any,
    scores_by_model: Mapping[str, Any],
    confusion: ConfusionMatrix,
    importance: pd.Series | None = None,
    evaluations: Mapping[str, Evaluation] | None = None,
) -> dict[str, Path]:
    """All evaluation plots in `out_dir`; returns {plot name: PNG path}, e.g. for MLflow and Dagster.
    `evaluations` (by the names of `scores_by_model`, of the same labels and scores) give the areas shown."""
    out = Path(out_dir)
    evaluations = evaluations or {}
    plots = {
        "pr_curve": plot_pr_curves(y_true, scores_by_model, out / "pr_curve.png",
                                   pr_aucs={name: e.pr_auc for name, e in evaluations.items()}),
        "roc_curve": plot_roc_curves(y_true, scores_by_model, out / "roc_curve.png",
                                     roc_aucs={name: e.roc_auc for name, e in evaluations.items()}),
        "confusion_matrix": plot_confusion_matrix(confusion, out / "confusion_matrix.png"),
    }
    if importance is not None:
        plots["feature_importance"] = plot_feature_importance(importance, out / "feature_importance.png")
    return plots


def markdown_image(path: Path | str, alt: str = "") -> str:
    """The PNG inlined as a Markdown image (a data URI), which Dagster's UI renders in metadata."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{alt or Path(path).stem}](data:image/png;base64,{encoded})"
