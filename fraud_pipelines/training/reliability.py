"""The reliability diagram: observed fraud rate against the predicted probability, by score bin,
for the trees' raw score and the calibrated probability (a calibrated scorer follows the diagonal)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fraud_pipelines.training.evaluation import check_labels_and_scores


def reliability_bins(y_true: Any, scores: Any, n_bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted probability, observed fraud rate, rows) per non-empty bin of equal width on [0, 1]."""
    labels, probabilities = check_labels_and_scores(y_true, scores)
    index = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    rows = np.bincount(index, minlength=n_bins)
    predicted = np.bincount(index, weights=probabilities, minlength=n_bins)
    observed = np.bincount(index, weights=labels, minlength=n_bins)
    return [(predicted[b] / rows[b], observed[b] / rows[b], int(rows[b])) for b in range(n_bins) if rows[b]]


def plot_reliability(y_true: Any, scores_by_name: Mapping[str, Any], path: Path | str, *,
                     briers: Mapping[str, float] | None = None) -> Path:
    """PNG of the reliability curves (marker area grows with the bin's rows), with each Brier score."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, scores in scores_by_name.items():
        bins = reliability_bins(y_true, scores)
        predicted, observed, rows = (np.array(column) for column in zip(*bins))
        label = f"{name} (Brier {briers[name]:.5f})" if briers and name in briers else name
        axes.plot(predicted, observed, marker="o", markersize=3, label=label)
        axes.scatter(predicted, observed, s=10 + 40 * np.log10(rows), alpha=0.3)
    axes.set(xlabel="predicted fraud probability (bin mean)", ylabel="observed fraud rate", xlim=(0, 1),
             ylim=(0, 1.02), title="Reliability (test split)")
    figure.legend(loc="outside lower center", fontsize="small", ncols=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
