"""How good a fraud scorer is on a labelled split, and whether one scorer beats another.

The headline is PR-AUC (average precision): with ~1 % fraud, ROC-AUC flatters every model,
while PR-AUC moves with what analysts feel (how many alerts are real fraud).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

#: The false-positive rate at which `recall_at_1pct_fpr` is read (1 % of genuine charges flagged).
MAX_FPR = 0.01
#: PR-AUC gap below which the model counts as no better than the baseline (the `beats_baseline` gate);
#: promotion over the champion is a bootstrap decision (`promotion.py`), not this margin.
DEFAULT_TOLERANCE = 0.001
#: Number of score-ordered groups in the lift/gain table.
N_LIFT_BINS = 10


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of a thresholded scorer: rows flagged (score >= threshold) against the truth."""

    tn: int
    fp: int
    fn: int
    tp: int

    def as_array(self) -> np.ndarray:
        """[[tn, fp], [fn, tp]], the layout of `sklearn.metrics.confusion_matrix`."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]], dtype=np.int64)


@dataclass(frozen=True)
class LiftRow:
    """One score-ordered group (1 = highest scores) of the lift/gain table."""

    decile: int
    n_rows: int
    n_positives: int
    positive_rate: float
    lift: float  # positive_rate / overall positive rate
    cumulative_gain: float  # share of all positives found in groups 1..decile
    cumulative_lift: float  # positive rate of groups 1..decile / overall positive rate


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one scorer on one labelled split; `labels_fingerprint` identifies the split."""

    name: str
    n_rows: int
    n_positives: int
    labels_fingerprint: str
    pr_auc: float
    roc_auc: float
    threshold: float
    precision: float
    recall: float
    f1: float
    recall_at_1pct_fpr: float
    confusion: ConfusionMatrix
    lift: tuple[LiftRow, ...]
    brier: float = float("nan")  # mean squared error of the probabilities: calibration and sharpness

    def metrics(self) -> dict[str, float]:
        """The scalar metrics, flat, for MLflow `log_metric` and Dagster metadata."""
        return {
            "pr_auc": self.pr_auc,
            "roc_auc": self.roc_auc,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "recall_at_1pct_fpr": self.recall_at_1pct_fpr,
            "brier": self.brier,
            "threshold": self.threshold,
            "tn": float(self.confusion.tn),
            "fp": float(self.confusion.fp),
            "fn": float(self.confusion.fn),
            "tp": float(self.confusion.tp),
        }

    def lift_table(self) -> pd.DataFrame:
        """The lift/gain table as a DataFrame, one row per score-ordered group."""
        return pd.DataFrame([asdict(row) for row in self.lift])

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-serializable Python values."""
        return asdict(self) | {"lift": [asdict(row) for row in self.lift]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """The inverse of `to_dict` (e.g. an evaluation read back from an MLflow artifact)."""
        fields = dict(data)
        fields["confusion"] = ConfusionMatrix(**fields["confusion"])
        fields["lift"] = tuple(LiftRow(**row) for row in fields["lift"])
        return cls(**fields)


@dataclass(frozen=True)
class Comparison:
    """The outcome of `compare`: whether the candidate wins, and a sentence saying why."""

    better: bool
    reason: str
    candidate_pr_auc: float
    reference_pr_auc: float | None


def check_labels_and_scores(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated copies of binary labels and probabilities; a ValueError says what is wrong."""
    labels = np.asarray(y_true)
    probabilities = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or probabilities.ndim != 1:
        raise ValueError(
            f"labels and scores must be 1-D, got shapes {labels.shape} and {probabilities.shape}"
        )
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(labels)} labels but {len(probabilities)} scores")
    if pd.isna(labels).any():
        raise ValueError(f"labels contain {int(pd.isna(labels).sum())} missing values")
    unexpected = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if unexpected:
        raise ValueError(f"labels must be 0 or 1, found {unexpected[:5]}")
    bad = ~np.isfinite(probabilities) | (probabilities < 0) | (probabilities > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} scores are not probabilities in [0, 1]; "
            f"first at position {first}: {probabilities[first]!r}"
        )
    labels = labels.astype(np.int8)
    n_positives = int(labels.sum())
    if n_positives == 0 or n_positives == len(labels):
        raise ValueError(
            f"the split needs both classes to be evaluated: {n_positives} positives "
            f"in {len(labels)} rows"
        )
    return labels, probabilities


def labels_fingerprint(y_true: Any) -> str:
    """A short hash of the labels in order: equal fingerprints mean the same split, row by row."""
    labels = np.ascontiguousarray(np.asarray(y_true).astype(np.int8))
    return hashlib.sha256(labels.tobytes()).hexdigest()[:16]


def confusion_at(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> ConfusionMatrix:
    """The confusion matrix when rows with score >= threshold are flagged as fraud."""
    flagged = scores >= threshold
    positive = y_true == 1
    return ConfusionMatrix(
        tn=int((~flagged & ~positive).sum()),
        fp=int((flagged & ~positive).sum()),
        fn=int((~flagged & positive).sum()),
        tp=int((flagged & positive).sum()),
    )


def recall_at_fpr(y_true: np.ndarray, scores: np.ndarray, max_fpr: float = MAX_FPR) -> float:
    """The highest recall of any threshold whose false-positive rate is at most `max_fpr`.

    Thresholds are the distinct scores (flag score >= t), so tied scores are flagged together;
    flagging nothing (recall 0) is always allowed.
    """
    from sklearn.metrics import roc_curve  # scikit-learn (~1.5 s) only where a metric is computed

    fpr, tpr, _ = roc_curve(y_true, scores, drop_intermediate=False)
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def lift_table(y_true: np.ndarray, scores: np.ndarray, n_bins: int = N_LIFT_BINS) -> tuple[LiftRow, ...]:
    """Lift and cumulative gain by score-ordered group (deciles by default).

    Rows are sorted by score, highest first (ties keep their input order), then cut into
    `min(n_bins, n_rows)` groups whose sizes differ by at most one, larger groups first.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_labels = y_true[order]
    overall_rate = sorted_labels.mean()
    total_positives = int(sorted_labels.sum())
    rows: list[LiftRow] = []
    seen_rows = seen_positives = 0
    for decile, group in enumerate(np.array_split(sorted_labels, min(n_bins, len(sorted_labels))), 1):
        positives = int(group.sum())
        seen_rows += len(group)
        seen_positives += positives
        rate = positives / len(group)
        rows.append(
            LiftRow(
                decile=decile,
                n_rows=len(group),
                n_positives=positives,
                positive_rate=rate,
                lift=rate / overall_rate,
                cumulative_gain=seen_positives / total_positives,
                cumulative_lift=(seen_positives / seen_rows) / overall_rate,
            )
        )
    return tuple(rows)


def evaluate(y_true: Any, scores: Any, *, threshold: float, name: str = "model") -> Evaluation:
    """All metrics of one scorer's fraud probabilities against the true labels of a split.

    PR-AUC is scikit-learn's average precision (the step-wise area, not the trapezoid);
    precision is 0.0 when nothing is flagged.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold!r}")
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels, probabilities = check_labels_and_scores(y_true, scores)
    confusion = confusion_at(labels, probabilities, threshold)
    flagged = confusion.tp + confusion.fp
    precision = confusion.tp / flagged if flagged else 0.0
    recall = confusion.tp / (confusion.tp + confusion.fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Evaluation(
        name=name,
        n_rows=len(labels),
        n_positives=int(labels.sum()),
        labels_fingerprint=labels_fingerprint(labels),
        pr_auc=float(average_precision_score(labels, probabilities)),
        roc_auc=float(roc_auc_score(labels, probabilities)),
        threshold=float(threshold),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        recall_at_1pct_fpr=recall_at_fpr(labels, probabilities),
        confusion=confusion,
        lift=lift_table(labels, probabilities),
        brier=float(np.mean((probabilities - labels) ** 2)),
    )


def compare(
    candidate: Evaluation, reference: Evaluation, *, tolerance: float = DEFAULT_TOLERANCE
) -> Comparison:
    """Whether `candidate` beats `reference`: PR-AUC higher by more than `tolerance`, same split.

    Gaps within the tolerance count as a tie and the reference keeps its place, so retraining
    on unchanged data never churns the champion. Evaluations of different splits are refused.
    """
    if (candidate.labels_fingerprint, candidate.n_rows) != (
        reference.labels_fingerprint,
        reference.n_rows,
    ):
        raise ValueError(
            f"cannot compare {candidate.name!r} and {reference.name!r}: they were evaluated on "
            f"different splits ({candidate.n_rows} rows, labels {candidate.labels_fingerprint} vs "
            f"{reference.n_rows} rows, labels {reference.labels_fingerprint}); "
            "score both on the same test split"
        )
    delta = candidate.pr_auc - reference.pr_auc
    better = delta > tolerance
    verdict = "beats" if better else "does not beat"
    reason = (
        f"{candidate.name} {verdict} {reference.name}: PR-AUC {candidate.pr_auc:.4f} vs "
        f"{reference.pr_auc:.4f} (difference {delta:+.4f}, needs > {tolerance:+.4f}) "
        f"on the same {candidate.n_rows}-row split"
    )
    return Comparison(better, reason, candidate.pr_auc, reference.pr_auc)


def is_better(
    candidate: Evaluation, reference: Evaluation, *, tolerance: float = DEFAULT_TOLERANCE
) -> bool:
    """True when `candidate` beats `reference` by the rule of `compare`."""
    return compare(candidate, reference, tolerance=tolerance).better
