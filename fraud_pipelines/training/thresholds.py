"""Alert thresholds by an explicit business rule, chosen on the calibrated validation probabilities.

Rules (a charge is flagged when its probability >= the threshold):
- "max_f1": the score that maximises F1 (ties: the highest, fewer alerts).
- "target_precision": the lowest score whose precision reaches `target_precision` (most fraud caught at
  that alert quality); max F1 when none does.
- "max_recall_at_fpr": the lowest score whose false-positive rate is at most `max_fpr` (e.g. at most 1 %
  of genuine charges flagged), i.e. the most fraud caught within that review budget.
- "min_cost": the score minimising `cost_false_positive` × false alerts + `cost_false_negative` × missed
  frauds (e.g. 5 to review a genuine alert, 200 lost per missed fraud).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fraud_pipelines.training.evaluation import check_labels_and_scores

RULES = ("max_f1", "target_precision", "max_recall_at_fpr", "min_cost")


def choose_threshold(
    y_val: Any, scores: Any, *, rule: str = "max_f1", target_precision: float = 0.5, max_fpr: float = 0.01,
    cost_false_positive: float = 1.0, cost_false_negative: float = 100.0,
) -> float:
    """The alert threshold (flag score >= threshold) that `rule` picks on the validation labels and scores."""
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; use one of {', '.join(RULES)}")
    labels, probabilities = check_labels_and_scores(y_val, scores)
    if rule == "max_recall_at_fpr":
        return _max_recall_at_fpr(labels, probabilities, max_fpr)
    if rule == "min_cost":
        return _min_cost(labels, probabilities, cost_false_positive, cost_false_negative)
    from sklearn.metrics import precision_recall_curve  # scikit-learn only where a threshold is chosen

    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision),
                   where=(precision + recall) > 0)
    if rule == "target_precision":
        reaching = np.flatnonzero(precision >= target_precision)
        if reaching.size:
            return float(thresholds[reaching[0]])
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def _counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct score t (descending), false positives and true positives when flagging score >= t;
    the first entry flags nothing."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    negatives, positives = int((labels == 0).sum()), int(labels.sum())
    return np.rint(fpr * negatives), np.rint(tpr * positives), thresholds


def _above_all(scores: np.ndarray) -> float:
    """A threshold that flags nothing (just above the highest score, at most 1)."""
    return float(min(1.0, np.nextafter(scores.max(), np.inf)))


def _max_recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    if not 0.0 <= max_fpr < 1.0:
        raise ValueError(f"max_fpr must be within [0, 1), got {max_fpr!r}")
    false_positives, _, thresholds = _counts(labels, scores)
    allowed = np.flatnonzero(false_positives <= max_fpr * int((labels == 0).sum()) + 1e-9)
    last = int(allowed[-1])
    return _above_all(scores) if last == 0 else float(thresholds[last])


def _min_cost(labels: np.ndarray, scores: np.ndarray, cost_fp: float, cost_fn: float) -> float:
    if cost_fp < 0 or cost_fn < 0 or cost_fp + cost_fn == 0:
        raise ValueError(f"costs must be >= 0 and not both 0, got false positive {cost_fp!r}, "
                         f"false negative {cost_fn!r}")
    false_positives, true_positives, thresholds = _counts(labels, scores)
    cost = cost_fp * false_positives + cost_fn * (int(labels.sum()) - true_positives)
    best = int(np.flatnonzero(cost == cost.min())[0])  # ties: the highest threshold, fewer alerts
    return _above_all(scores) if best == 0 else float(thresholds[best])
