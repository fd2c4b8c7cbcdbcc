"""Feature selection on the train and validation splits only: which features earn their place.

Three passes, each with a reason recorded per feature: (1) low variance: a feature whose most common
value covers `max_mode_share` of the training rows carries almost nothing; (2) redundancy: of two
features whose Spearman correlation on the training rows reaches `max_correlation`, the one with the
lower XGBoost gain goes; (3) usefulness: scikit-learn's permutation importance of each remaining
feature on validation PR-AUC, from an XGBoost model trained on all candidates; features whose mean
drop is at most `min_importance` go, and beyond `max_features` the least useful. A model retrained
on the survivors is compared with the all-features model on validation: the subset is adopted only
when its PR-AUC beats the full set's by more than `min_gain` (a negative `min_gain` accepts a small
loss for fewer features: less feature debt). The test split is never an argument here, so it cannot
be looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.model import TrainingParams, check_features, train_model

#: The ranking model: fewer, faster trees than the production model, every column in every tree (a
#: sampled column set would hide an interaction when few features remain); the order is what matters.
RANKING_PARAMS = TrainingParams(n_estimators=300, learning_rate=0.1, early_stopping_rounds=30, colsample_bytree=1.0,
                                subsample=1.0, calibration="none")


@dataclass(frozen=True, kw_only=True)
class SelectionPolicy:
    """Thresholds of the three passes and of adoption; all seeded."""

    max_mode_share: float = 0.999
    max_correlation: float = 0.98
    min_importance: float = 0.0
    min_gain: float = 0.0
    max_features: int | None = None  # keep at most this many (the most useful) after the passes
    n_repeats: int = 5
    max_rows: int = 250_000  # rows sampled (seeded) for correlations and permutations
    seed: int = 42
    params: TrainingParams = field(default_factory=lambda: RANKING_PARAMS)

    def __post_init__(self) -> None:
        if not 0.5 < self.max_mode_share <= 1.0:
            raise ValueError(f"max_mode_share must be within (0.5, 1], got {self.max_mode_share!r}")
        if not 0.0 < self.max_correlation <= 1.0:
            raise ValueError(f"max_correlation must be within (0, 1], got {self.max_correlation!r}")
        if self.n_repeats < 1 or self.max_rows < 100:
            raise ValueError("n_repeats must be at least 1 and max_rows at least 100")
        if self.max_features is not None and self.max_features < 1:
            raise ValueError(f"max_features must be at least 1 when set, got {self.max_features!r}")


@dataclass(frozen=True)
class SelectionResult:
    """The ranking (one row per candidate feature) and whether the selected subset was adopted."""

    ranking: pd.DataFrame  # feature, gain, permutation_importance, permutation_std, selected, reason
    selected: tuple[str, ...]
    full_validation_pr_auc: float
    selected_validation_pr_auc: float
    adopted: bool
    rows: dict[str, int]
    candidates: tuple[str, ...] = ()  # every feature ranked, in the input's column order

    @property
    def features(self) -> tuple[str, ...]:
        """The features training should use, in the input's column order: the subset when adopted, else all."""
        return self.selected if self.adopted else self.candidates

    def reason(self) -> str:
        """One sentence: kept or not, and the validation PR-AUCs behind it."""
        verdict = "adopted" if self.adopted else "not adopted"
        return (f"{len(self.selected)} of {len(self.ranking)} features selected, {verdict}: validation PR-AUC "
                f"{self.selected_validation_pr_auc:.4f} with them vs {self.full_validation_pr_auc:.4f} with all")

    def markdown(self) -> str:
        """The ranking as a Markdown table (most useful first)."""
        lines = ["| rank | feature | permutation Δ PR-AUC (± std) | gain share | selected | why |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for rank, row in enumerate(self.ranking.itertuples(index=False), 1):
            lines.append(f"| {rank} | `{row.feature}` | {row.permutation_importance:+.4f} "
                         f"(± {row.permutation_std:.4f}) | {row.gain_share:.3f} | "
                         f"{'yes' if row.selected else 'no'} | {row.reason} |")
        return "\n".join(lines)


def rank_features(X_train: pd.DataFrame, y_train: Any, X_val: pd.DataFrame, y_val: Any,
                  policy: SelectionPolicy | None = None) -> SelectionResult:
    """Rank the columns of `X_train` (train + validation only) and choose the subset to keep."""
    from sklearn.inspection import permutation_importance

    policy = policy or SelectionPolicy()
    check_features(X_train, "X_train")
    check_features(X_val, "X_val")
    names = list(X_train.columns)
    reasons: dict[str, str] = {}
    for name, share in _mode_shares(X_train).items():
        if share >= policy.max_mode_share:
            reasons[name] = f"low variance: one value in {share:.2%} of train rows"
    params = replace(policy.params, seed=policy.seed)
    full = train_model(X_train, y_train, X_val, y_val, params)
    gain = full.feature_importance().reindex(names).fillna(0.0)
    candidates = [n for n in names if n not in reasons]
    # sampled before the columns are picked: picking first would copy every train row
    for kept, dropped, rho in _redundant_pairs(_sample(X_train, policy)[candidates], gain, policy.max_correlation):
        if dropped not in reasons and kept not in reasons:
            reasons[dropped] = f"redundant: Spearman {rho:+.3f} with `{kept}`, which has more gain"
    val_sample, y_sample = _sample(X_val, policy, np.asarray(y_val))
    permuted = permutation_importance(full.classifier, val_sample, y_sample, scoring="average_precision",
                                      n_repeats=policy.n_repeats, random_state=policy.seed, n_jobs=1)
    importance = pd.Series(permuted.importances_mean, index=names)
    spread = pd.Series(permuted.importances_std, index=names)
    for name in names:
        if name not in reasons and importance[name] <= policy.min_importance:
            reasons[name] = f"no validation PR-AUC lost when shuffled ({importance[name]:+.4f})"
    if policy.max_features is not None:
        ordered = importance[[n for n in names if n not in reasons]].sort_values(ascending=False, kind="stable")
        for name in ordered.index[policy.max_features:]:
            reasons[name] = f"beyond max_features={policy.max_features} ({importance[name]:+.4f})"
    selected = tuple(n for n in names if n not in reasons)
    if not selected:  # keep the single most useful feature rather than nothing
        best = importance.idxmax()
        reasons.pop(best)
        selected = (best,)
    if len(selected) == len(names):
        subset_pr_auc = full.validation_pr_auc
    else:
        cols = list(selected)
        subset_pr_auc = train_model(X_train[cols], y_train, X_val[cols], y_val, params).validation_pr_auc
    adopted = len(selected) < len(names) and subset_pr_auc > full.validation_pr_auc + policy.min_gain
    total_gain = float(gain.sum()) or 1.0
    ranking = pd.DataFrame({
        "feature": names,
        "permutation_importance": importance.to_numpy(),
        "permutation_std": spread.to_numpy(),
        "gain_share": (gain / total_gain).to_numpy(),
        "selected": [n in selected for n in names],
        "reason": [reasons.get(n, "kept") for n in names],
    }).sort_values(["selected", "permutation_importance", "gain_share"], ascending=False, kind="stable")
    return SelectionResult(ranking.reset_index(drop=True), selected, float(full.validation_pr_auc),
                           float(subset_pr_auc), bool(adopted), {"train": len(X_train), "validation": len(X_val)},
                           tuple(names))


def _mode_shares(X: pd.DataFrame) -> dict[str, float]:
    """Share of rows holding each column's most common value (missing counts as a value)."""
    return {name: float(X[name].value_counts(dropna=False, normalize=True).iloc[0]) for name in X.columns}


def _sample(X: pd.DataFrame, policy: SelectionPolicy, y: np.ndarray | None = None) -> Any:
    """At most `policy.max_rows` rows, drawn without replacement with the policy's seed."""
    if len(X) <= policy.max_rows:
        return X if y is None else (X, y)
    rows = np.sort(np.random.default_rng(policy.seed).choice(len(X), policy.max_rows, replace=False))
    return X.iloc[rows] if y is None else (X.iloc[rows], y[rows])


def _redundant_pairs(X: pd.DataFrame, gain: pd.Series, limit: float) -> list[tuple[str, str, float]]:
    """(kept, dropped, rho) for column pairs with |Spearman rho| >= limit, strongest pairs first."""
    if X.shape[1] < 2:
        return []
    rho = X.astype("float64").corr(method="spearman", min_periods=2)
    pairs = []
    names = list(X.columns)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            value = rho.loc[a, b]
            if pd.notna(value) and abs(value) >= limit:
                kept, dropped = (a, b) if gain[a] >= gain[b] else (b, a)
                pairs.append((kept, dropped, float(value)))
    return sorted(pairs, key=lambda p: -abs(p[2]))
