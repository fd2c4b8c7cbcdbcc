"""Promotion as a statistical decision: a paired, class-stratified bootstrap of the PR-AUC
difference between a challenger and each compared version, scored on the same test rows.

The challenger takes the champion alias only when the lower bound of every interval is above 0,
so a gain inside the split's sampling noise never moves it. Each resample draws the positives and
the negatives separately, with replacement (every resample keeps the split's fraud count), and
both scorers see the same resampled rows. The average precision of all resamples is computed at
once from counts per score threshold, exact and without a per-resample sort: positives are drawn
row by row, negatives as counts per pair of score buckets (one multinomial draw) or, when the
pairs are many, row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_pipelines.training.evaluation import Evaluation, check_labels_and_scores

if TYPE_CHECKING:  # SciPy (~0.5 s to import) is imported where a bootstrap runs
    import scipy.sparse as sparse

#: Cells (resamples x columns) drawn at once: bounds the bootstrap's memory whatever the split's size.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, kw_only=True)
class PromotionPolicy:
    """How sure a promotion must be: interval confidence, resamples, seed, and how many earlier
    registered versions (besides the champion) the challenger must also beat."""

    confidence: float = 0.95
    n_resamples: int = 1_000
    seed: int = 0
    n_previous: int = 3
    beat_previous: bool = True  # False: the previous versions are compared and recorded, only the champion decides

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"confidence must be within [0.5, 1), got {self.confidence!r}")
        if self.n_resamples < 100:
            raise ValueError(f"n_resamples must be at least 100 for a percentile interval, got {self.n_resamples}")
        if self.n_previous < 0:
            raise ValueError(f"n_previous must be 0 or more, got {self.n_previous}")


@dataclass(frozen=True)
class BootstrapInterval:
    """PR-AUC(challenger) - PR-AUC(reference) on the split, and its two-sided percentile interval."""

    difference: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int

    def clears_zero(self) -> bool:
        """True when the whole interval is above 0: the challenger is better beyond the noise."""
        return self.low > 0.0

    def describe(self) -> str:
        return (f"{self.difference:+.4f}, {self.confidence:.0%} CI [{self.low:+.4f}, {self.high:+.4f}] "
                f"({self.n_resamples} paired resamples, seed {self.seed})")


@dataclass(frozen=True)
class VersionComparison:
    """The challenger against one registered version re-scored on the same test rows."""

    version: str
    role: str  # "champion" or "previous"
    reference_pr_auc: float
    interval: BootstrapInterval


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger takes the champion alias, why, and the comparisons it rests on."""

    better: bool
    reason: str
    candidate_pr_auc: float
    champion_version: str | None
    comparisons: tuple[VersionComparison, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = field(default_factory=tuple)  # versions that could not be re-scored, with why

    def tags(self) -> dict[str, str]:
        """MLflow model-version tags recording the decision, the intervals and the compared versions."""
        tags = {"promotion.compared_versions": ",".join(c.version for c in self.comparisons) or "none"}
        for comparison in self.comparisons:
            interval = comparison.interval
            tags[f"promotion.vs_v{comparison.version}"] = (
                f"{comparison.role}: PR-AUC {self.candidate_pr_auc:.4f} vs {comparison.reference_pr_auc:.4f}, "
                f"difference {interval.describe()}")
        champion = self.champion_comparison()
        if champion is not None:
            tags |= {"promotion.difference": f"{champion.interval.difference:.6f}",
                     "promotion.ci_low": f"{champion.interval.low:.6f}",
                     "promotion.ci_high": f"{champion.interval.high:.6f}",
                     "promotion.confidence": f"{champion.interval.confidence}"}
        if self.skipped:
            tags["promotion.skipped"] = "; ".join(self.skipped)[:4_000]
        return tags

    def champion_comparison(self) -> VersionComparison | None:
        return next((c for c in self.comparisons if c.role == "champion"), None)

    def table(self) -> str:
        """The comparisons as a Markdown table (UI metadata)."""
        rows = [f"| v{c.version} ({c.role}) | {c.reference_pr_auc:.4f} | {c.interval.difference:+.4f} | "
                f"[{c.interval.low:+.4f}, {c.interval.high:+.4f}] | {'yes' if c.interval.clears_zero() else 'no'} |"
                for c in self.comparisons]
        head = ("| compared with | PR-AUC | challenger - it | interval | clears 0 |\n"
                "| --- | --- | --- | --- | --- |")
        return "\n".join([head, *rows]) if rows else "no earlier version to compare with"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionDecision:
        comparisons = tuple(VersionComparison(**{**c, "interval": BootstrapInterval(**c["interval"])})
                            for c in data.get("comparisons", ()))
        return cls(better=data["better"], reason=data["reason"], candidate_pr_auc=data["candidate_pr_auc"],
                   champion_version=data.get("champion_version"), comparisons=comparisons,
                   skipped=tuple(data.get("skipped", ())))


def _ranks(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Distinct positive scores as thresholds, highest first: each positive's threshold group and
    each negative's bucket (the first group whose threshold it reaches; G if none)."""
    thresholds = np.unique(positives)  # ascending
    n_groups = len(thresholds)
    positive_group = n_groups - 1 - np.searchsorted(thresholds, positives, side="left")
    negative_bucket = n_groups - np.searchsorted(thresholds, negatives, side="right")
    return positive_group, negative_bucket, n_groups


def _average_precision(tp: np.ndarray, fp_buckets: np.ndarray, n_positives: int) -> np.ndarray:
    """AP per resample from positive weights per group (R, G) and negative counts per bucket (R, G+1):
    sum over groups of recall gained x precision at that group's threshold (scikit-learn's rule)."""
    tp_cum = np.cumsum(tp, axis=1, dtype=np.float64)
    fp_cum = np.cumsum(fp_buckets[:, :-1], axis=1, dtype=np.float64)
    flagged = tp_cum + fp_cum
    precision = np.divide(tp_cum, flagged, out=np.zeros_like(tp_cum), where=flagged > 0)
    return (tp * precision).sum(axis=1) / n_positives


def _one_hot(index: np.ndarray, width: int) -> sparse.csr_matrix:
    import scipy.sparse as sparse

    rows = np.arange(len(index))
    return sparse.csr_matrix((np.ones(len(index), dtype=np.float64), (rows, index)), shape=(len(index), width))


def _drawn_per_bucket(rng: np.random.Generator, size: int, *bucketings: tuple[np.ndarray, int]) -> list[np.ndarray]:
    """`size` resamples of the rows (as many draws as rows, with replacement), counted per bucket
    under each (bucket of each row, number of buckets) given: one (size, n_buckets) array each."""
    n = len(bucketings[0][0])
    draws = rng.integers(0, n, size=(size, n), dtype=np.int64)
    offsets = np.arange(size, dtype=np.int64)[:, None]
    return [np.bincount((buckets[draws] + offsets * width).ravel(), minlength=size * width)
            .reshape(size, width).astype(np.float64) for buckets, width in bucketings]


def bootstrap_pr_auc_difference(
    y_true: Any, challenger: Any, reference: Any, *, n_resamples: int = 1_000, confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """PR-AUC(challenger) - PR-AUC(reference) with a paired, class-stratified percentile bootstrap.

    Same seed, same inputs: the same interval. PR-AUC is scikit-learn's average precision, also
    per resample (tied scores count as one threshold).
    """
    labels, a = check_labels_and_scores(y_true, challenger)
    _, b = check_labels_and_scores(labels, reference)
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    group_a, bucket_a, groups_a = _ranks(a[positive], a[~positive])
    group_b, bucket_b, groups_b = _ranks(b[positive], b[~positive])
    # Negatives matter only through their bucket under each scorer. Few occupied (bucket under a,
    # bucket under b) pairs: draw how many resampled negatives fall in each pair; many: draw rows.
    pairs, pair_counts = np.unique(np.stack([bucket_a, bucket_b], axis=1), axis=0, return_counts=True)
    by_pairs = len(pairs) * 8 < n_neg
    to_a, to_b = _one_hot(pairs[:, 0], groups_a + 1), _one_hot(pairs[:, 1], groups_b + 1)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(n_pos, len(pairs) if by_pairs else n_neg))
    differences = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        tp_a, tp_b = _drawn_per_bucket(rng, size, (group_a, groups_a), (group_b, groups_b))
        if by_pairs:
            drawn = rng.multinomial(n_neg, pair_counts / n_neg, size=size).astype(np.float64)
            fp_a, fp_b = (to_a.T @ drawn.T).T, (to_b.T @ drawn.T).T
        else:
            fp_a, fp_b = _drawn_per_bucket(rng, size, (bucket_a, groups_a + 1), (bucket_b, groups_b + 1))
        differences.append(_average_precision(tp_a, fp_a, n_pos) - _average_precision(tp_b, fp_b, n_pos))
    difference = np.concatenate(differences)
    alpha = 1.0 - confidence
    low, high = np.quantile(difference, [alpha / 2, 1 - alpha / 2])
    from sklearn.metrics import average_precision_score

    observed = average_precision_score(labels, a) - average_precision_score(labels, b)
    return BootstrapInterval(difference=float(observed), low=float(low), high=float(high), confidence=confidence,
                             n_resamples=n_resamples, seed=seed)


def decide(
    candidate: Evaluation, candidate_scores: Any, y_true: Any, references: Sequence[tuple[str, str, Any]],
    *, policy: PromotionPolicy | None = None, champion_version: str | None = None,
    skipped: Sequence[str] = (),
) -> PromotionDecision:
    """Promote when there is no champion, or when the interval against every reference clears 0
    (only the champion's with `policy.beat_previous` False).

    `references` are (version, role, scores on the candidate's test rows), role "champion" or
    "previous"; `skipped` names versions that could not be re-scored (recorded, not compared).
    """
    policy = policy or PromotionPolicy()
    if champion_version is None:
        return PromotionDecision(True, f"{candidate.name} becomes the first champion (PR-AUC {candidate.pr_auc:.4f})",
                                 candidate.pr_auc, None, skipped=tuple(skipped))
    if not any(role == "champion" for _, role, _ in references):
        raise ValueError(f"champion v{champion_version} must be among the references to decide a promotion")
    from sklearn.metrics import average_precision_score

    labels = np.asarray(y_true)
    comparisons = []
    for version, role, scores in references:
        interval = bootstrap_pr_auc_difference(labels, candidate_scores, scores, n_resamples=policy.n_resamples,
                                               confidence=policy.confidence, seed=policy.seed)
        comparisons.append(VersionComparison(str(version), role, float(average_precision_score(labels, scores)),
                                             interval))
    champion = next(c for c in comparisons if c.role == "champion")
    deciding = comparisons if policy.beat_previous else [champion]
    losing = [c for c in deciding if not c.interval.clears_zero()]
    better = not losing
    verdict = "beats" if champion.interval.clears_zero() else "does not beat"
    reason = (f"{candidate.name} {verdict} champion v{champion.version}: PR-AUC {candidate.pr_auc:.4f} vs "
              f"{champion.reference_pr_auc:.4f}, difference {champion.interval.describe()} on the same "
              f"{candidate.n_rows}-row split")
    others = [c for c in comparisons if c.role != "champion"]
    if others:
        reason += "; against " + ", ".join(
            f"v{c.version} {c.interval.difference:+.4f} [{c.interval.low:+.4f}, {c.interval.high:+.4f}]"
            for c in others)
    if losing:
        which = "every interval's" if policy.beat_previous else "the champion interval's"
        reason += f"; not promoted: {which} lower bound must be above 0 (not: " + ", ".join(
            f"v{c.version}" for c in losing) + ")"
    else:
        reason += "; promoted"
    return PromotionDecision(better, reason, candidate.pr_auc, str(champion_version), tuple(comparisons),
                             tuple(skipped))
