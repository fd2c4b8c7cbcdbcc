"""Hyperparameter search with Optuna: TPE over the XGBoost settings that matter, each trial early-stopped
and pruned on validation PR-AUC, on the train and validation splits only.

The first trial is the base parameters themselves (Optuna's `enqueue_trial`), so the search starts from what
training would use without it and its best is never below that on validation, whatever the budget; with a
small budget the other trials are the sampler's random start-up ones, and TPE models the space after them.

Reproducible: the sampler is seeded, XGBoost is seeded and deterministic (hist), and a trial's pruning
depends only on its own and earlier trials' validation curves, so the same budget of trials gives the
same trials and the same best parameters. A `timeout_seconds` budget bounds the time instead; how many
trials fit in it then depends on the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from fraud_pipelines.training.model import TrainingParams, check_features, imbalance_weight, make_classifier

#: Parameters the search tunes; the others (n_estimators as an upper bound, seed, ...) come from the base.
TUNED = ("learning_rate", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "reg_lambda")


@dataclass(frozen=True, kw_only=True)
class TuningBudget:
    """How much searching: `n_trials` (0: off) and/or `timeout_seconds`, the seed and the pruner's patience."""

    n_trials: int = 0
    timeout_seconds: float | None = None
    seed: int = 42
    n_startup_trials: int = 5  # random trials before TPE models the space, and before pruning starts
    prune_warmup_rounds: int = 30  # boosting rounds a trial runs before it may be pruned
    start_from_base: bool = True  # trial 0 is the base parameters, so the best is never below them on validation

    def __post_init__(self) -> None:
        if self.n_trials < 0 or (self.timeout_seconds is not None and self.timeout_seconds <= 0):
            raise ValueError(f"n_trials must be >= 0 and timeout_seconds > 0 when set, got {self.n_trials}, "
                             f"{self.timeout_seconds}")

    @property
    def enabled(self) -> bool:
        """Whether any limit is set, i.e. the search runs at all."""
        return self.n_trials > 0 or self.timeout_seconds is not None


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: its parameters, state (COMPLETE or PRUNED) and validation PR-AUC."""

    number: int
    params: dict[str, Any]
    state: str
    validation_pr_auc: float | None
    rounds: int


@dataclass(frozen=True)
class TuningResult:
    """The best trial's parameters and score, and every trial in order."""

    best_params: dict[str, Any]
    best_validation_pr_auc: float
    trials: tuple[TrialRecord, ...]
    base_validation_pr_auc: float | None = None  # trial 0's, when it ran the base parameters to the end

    @property
    def base_is_best(self) -> bool:
        """Whether no trial beat the base parameters on validation (training keeps them)."""
        return self.base_validation_pr_auc is not None and self.best_validation_pr_auc <= self.base_validation_pr_auc

    def apply(self, base: TrainingParams) -> TrainingParams:
        """`base` with the tuned parameters."""
        return replace(base, **self.best_params)


#: The search space: parameter -> (low, high, log scale); max_depth is an integer.
SPACE: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.01, 0.3, True),
    "max_depth": (3, 10, False),
    "min_child_weight": (0.5, 20.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.5, 1.0, False),
    "reg_lambda": (0.1, 20.0, True),
}


def search_space(trial: Any) -> dict[str, Any]:
    """The parameters one trial tries (log scales where orders of magnitude matter)."""
    return {name: trial.suggest_int(name, int(low), int(high)) if name == "max_depth"
            else trial.suggest_float(name, low, high, log=log) for name, (low, high, log) in SPACE.items()}


def tune(X_train: pd.DataFrame, y_train: Any, X_val: pd.DataFrame, y_val: Any, base: TrainingParams,
         budget: TuningBudget, *, on_trial: Callable[[TrialRecord], None] | None = None) -> TuningResult:
    """Search `search_space` for the highest validation PR-AUC (average precision of the early-stopped
    trees); `on_trial` sees each finished trial (e.g. to log it as a nested MLflow run)."""
    import optuna

    if not budget.enabled:
        raise ValueError("the tuning budget is off (n_trials 0, no timeout): nothing to search")
    check_features(X_train, "X_train")
    check_features(X_val, "X_val")
    train_labels, val_labels = np.asarray(y_train).astype(np.int8), np.asarray(y_val).astype(np.int8)
    weight = base.scale_pos_weight or imbalance_weight(train_labels)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=budget.seed, n_startup_trials=budget.n_startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=budget.n_startup_trials,
                                           n_warmup_steps=budget.prune_warmup_rounds, interval_steps=10),
    )

    if budget.start_from_base:
        study.enqueue_trial(base_point(base))

    def objective(trial: Any) -> float:
        params = replace(base, **search_space(trial))
        classifier = make_classifier(params, weight, callbacks=[_PruneOnValidation(trial)])
        classifier.fit(X_train, train_labels, eval_set=[(X_val, val_labels)], verbose=False)
        trial.set_user_attr("rounds", int(classifier.best_iteration) + 1)
        return float(average_precision_score(val_labels, classifier.predict_proba(X_val)[:, 1]))

    def report(_study: Any, frozen: Any) -> None:
        if on_trial is not None:
            on_trial(_record(frozen))

    study.optimize(objective, n_trials=budget.n_trials or None, timeout=budget.timeout_seconds, callbacks=[report])
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"no tuning trial finished within the budget ({budget}); raise n_trials or timeout_seconds")
    records = tuple(_record(t) for t in study.trials)
    first = records[0] if budget.start_from_base else None
    return TuningResult(dict(study.best_params), float(study.best_value), records,
                        first.validation_pr_auc if first is not None else None)


def base_point(base: TrainingParams) -> dict[str, Any]:
    """The tuned parameters' values in `base`, as a point of `search_space`; refused when outside it (Optuna
    would only warn, and its sampler would then model a point its space does not hold)."""
    point = {name: getattr(base, name) for name in TUNED}
    outside = [f"{name}={value} (searched within {SPACE[name][0]}..{SPACE[name][1]})"
               for name, value in point.items() if not SPACE[name][0] <= value <= SPACE[name][1]]
    if outside:
        raise ValueError(f"the base parameters lie outside the search space, so they cannot be trial 0: "
                         f"{', '.join(outside)}; set start_from_base=False or change them")
    return point


def _record(frozen: Any) -> TrialRecord:
    # Optuna gives a pruned trial its last reported value (XGBoost's aucpr, not average precision): left out
    complete = frozen.state.name == "COMPLETE"
    return TrialRecord(number=frozen.number, params=dict(frozen.params), state=frozen.state.name,
                       validation_pr_auc=float(frozen.value) if complete else None,
                       rounds=int(frozen.user_attrs.get("rounds", max(frozen.intermediate_values, default=-1) + 1)))


def _PruneOnValidation(trial: Any) -> Any:  # noqa: N802 -- builds the callback class lazily (xgboost import)
    """An XGBoost callback reporting validation aucpr to `trial` every round; prunes when Optuna says so."""
    import optuna
    from xgboost.callback import TrainingCallback

    class PruneOnValidation(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            score = evals_log["validation_0"]["aucpr"][-1]
            trial.report(float(score), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation aucpr {score:.4f} at round {epoch}")
            return False

    return PruneOnValidation()
