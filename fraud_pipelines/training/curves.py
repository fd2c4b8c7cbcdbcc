"""Learning curve (validation PR-AUC against the number of training rows) and lift/gain curves.

The learning curve retrains the model's own parameters on seeded random shares of the training rows
and scores each on the whole validation split (never test): a curve still rising at 100 % says more
history would help; a flat one says the features, not the data, are the limit. Lift and cumulative
gain come from the test evaluation's score-ordered groups (`evaluation.lift_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.model import TrainingParams, train_model
from fraud_pipelines.training.sampling import weighted_sample

#: Shares of the training rows the curve retrains on (the full model is the 100 % point).
DEFAULT_SHARES = (0.1, 0.3)


def learning_curve(X_train: pd.DataFrame, y_train: Any, X_val: pd.DataFrame, y_val: Any, params: TrainingParams,
                   *, shares: Sequence[float] = DEFAULT_SHARES, seed: int = 0,
                   full: tuple[float, float] | None = None) -> pd.DataFrame:
    """One row per share: rows, frauds, train and validation PR-AUC. `full` (train, validation PR-AUC of
    the model trained on every row) adds the 100 % point without retraining it. Shares leaving fewer
    than 2 frauds are skipped."""
    from sklearn.metrics import average_precision_score

    labels = np.asarray(y_train).astype(np.int8)
    val_labels = np.asarray(y_val).astype(np.int8)
    quick = replace(params, calibration="none")
    rows = []
    for share in sorted(set(shares)):
        if not 0.0 < share < 1.0:
            raise ValueError(f"learning-curve shares must be within (0, 1), got {share!r}")
        picked = np.sort(np.random.default_rng(seed).choice(len(labels), int(round(share * len(labels))),
                                                            replace=False))
        if labels[picked].sum() < 2:
            continue
        x_part = X_train.iloc[picked]
        trained = train_model(x_part, labels[picked], X_val, val_labels, quick)
        rows.append(_point(share, labels[picked], average_precision_score(labels[picked], trained.raw_proba(x_part)),
                           trained.validation_pr_auc, trained.summary()["n_fitted_rows"]))
    if full is not None:
        rows.append(_point(1.0, labels, *full, weighted_sample(labels, params.max_train_rows, params.seed).n_rows))
    return pd.DataFrame(rows)


def _point(share: float, labels: np.ndarray, train_pr_auc: float, validation_pr_auc: float,
           fitted_rows: int) -> dict[str, Any]:
    # rows: the share of the train split; fitted_rows: those the trees saw (a sample beyond max_train_rows)
    return {"share": float(share), "rows": int(len(labels)), "fitted_rows": int(fitted_rows),
            "frauds": int(labels.sum()), "train_pr_auc": float(train_pr_auc),
            "validation_pr_auc": float(validation_pr_auc)}


def _figure(size: tuple[float, float] = (6.0, 5.0)) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_learning_curve(curve: pd.DataFrame, path: Path | str) -> Path:
    """PNG of train and validation PR-AUC against training rows."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(curve["rows"], curve["validation_pr_auc"], marker="o", label="validation PR-AUC")
    axes.plot(curve["rows"], curve["train_pr_auc"], marker="o", linestyle="--", label="train PR-AUC")
    axes.set(xlabel="training rows", ylabel="PR-AUC", ylim=(0, 1.02), title="Learning curve")
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def plot_lift_gain(lift: pd.DataFrame, path: Path | str) -> Path:
    """PNG with the cumulative gain (share of frauds found by the top groups) and the lift per group."""
    figure = _figure((9.0, 4.0))
    gain_axes, lift_axes = figure.subplots(1, 2)
    reviewed = np.concatenate([[0.0], lift["n_rows"].cumsum() / lift["n_rows"].sum()])
    gain_axes.plot(reviewed, np.concatenate([[0.0], lift["cumulative_gain"]]), marker="o", label="model")
    gain_axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    gain_axes.set(xlabel="share of charges reviewed (highest scores first)", ylabel="share of frauds found",
                  xlim=(0, 1), ylim=(0, 1.02), title="Cumulative gain (test)")
    gain_axes.legend(loc="lower right", fontsize="small")
    lift_axes.bar(lift["decile"], lift["lift"], label="lift")
    lift_axes.plot(lift["decile"], lift["cumulative_lift"], color="tab:orange", marker="o", label="cumulative lift")
    lift_axes.axhline(1.0, color="grey", linestyle=":")
    lift_axes.set(xlabel="score group (1 = highest)", ylabel="lift over the fraud rate", title="Lift (test)",
                  xticks=list(lift["decile"]))
    lift_axes.legend(loc="upper right", fontsize="small")
    return _save(figure, path)


def _save(figure: Any, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
