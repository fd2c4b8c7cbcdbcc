"""Hyperparameter search with Optuna: TPE over the XGBoost settings that matter, each trial early-stopped
and pruned on validation PR-AUC, on the train and validation splits only. The settings include the class
weight, as the power of the imbalance (`imbalance_power`: scale_pos_weight = (negatives / positives) ** p,
1 today), and the two XGBoost knobs against the large steps a heavy weight drives (`max_delta_step`, `gamma`).

The first trial is the base parameters themselves (Optuna's `enqueue_trial`), so the search starts from what
training would use without it and its best is never below that on validation, whatever the budget; with a
small budget the other trials are the sampler's random start-up ones, and TPE models the space after them.
The best trial replaces the base parameters only when it beats them beyond the noise: the paired,
class-stratified bootstrap of their validation PR-AUC difference (promotion's rule, on validation) must clear 0.
A few dozen validation frauds cannot tell trials apart, and the best of several noisy scores is flattered by
its luck (with the weight fixed at negatives / positives, every sampled trial scored below the defaults on the
demo's validation and the best of three still replaced them; 57 validation frauds at 0.2 % fraud could not
tell the best of 20 trials, +0.025 on validation, from the defaults).

Reproducible: the sampler is seeded, XGBoost is seeded and deterministic (hist), and a trial's pruning
depends only on its own and earlier trials' validation curves, so the same budget of trials gives the
same trials and the same best parameters. A `timeout_seconds` budget bounds the time instead; how many
trials fit in it then depends on the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.model import TrainingParams, check_features, make_classifier, stopping_set
from fraud_pipelines.training.promotion import BootstrapInterval, bootstrap_pr_auc_difference
from fraud_pipelines.training.sampling import weighted_sample

#: Parameters the search tunes; the others (n_estimators as an upper bound, seed, ...) come from the base.
#: The class weight is searched as `imbalance_power` (scale_pos_weight = (negatives / positives) ** power), unless
#: the base fixes `scale_pos_weight`.
TUNED = ("learning_rate", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "reg_lambda",
         "imbalance_power", "max_delta_step", "gamma")


@dataclass(frozen=True, kw_only=True)
class TuningBudget:
    """How much searching: `n_trials` (0: off) and/or `timeout_seconds`, the seed and the pruner's patience."""

    n_trials: int = 0
    timeout_seconds: float | None = None
    seed: int = 42
    n_startup_trials: int = 5  # random trials before TPE models the space, and before pruning starts
    prune_warmup_rounds: int = 30  # boosting rounds a trial runs before it may be pruned
    start_from_base: bool = True  # trial 0 is the base parameters, so the best is never below them on validation
    beyond_noise: bool = True  # with start_from_base: keep the base unless the best trial's gain clears the noise
    confidence: float = 0.95  # two-sided confidence of that validation interval
    n_resamples: int = 1_000  # its paired bootstrap resamples (seeded with `seed`)

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0 or self.n_resamples < 100:
            raise ValueError(f"confidence must be within [0.5, 1) and n_resamples at least 100, got "
                             f"{self.confidence}, {self.n_resamples}")
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
    """The parameters training should use (the best trial's, or the base's when the best did not beat them
    beyond the noise) and their validation PR-AUC, and every trial in order."""

    best_params: dict[str, Any]
    best_validation_pr_auc: float
    trials: tuple[TrialRecord, ...]
    base_validation_pr_auc: float | None = None  # trial 0's, when it ran the base parameters to the end
    chosen_trial: int = -1  # the trial whose parameters are `best_params`
    gain: BootstrapInterval | None = None  # the highest sampled trial minus trial 0 on validation, when compared
    #: the chosen trial's parameters and fitted XGBClassifier: fraud_model training with these parameters loads
    #: the trees instead of fitting the same ones again (`trial_trees.py`)
    chosen_model: tuple[TrainingParams, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def base_is_best(self) -> bool:
        """Whether training keeps the base parameters (trial 0): no trial beat them beyond the noise."""
        return self.base_validation_pr_auc is not None and self.chosen_trial == 0

    def describe(self) -> str:
        """One sentence: which trial's parameters training uses, and why."""
        if self.gain is None:
            return f"trial {self.chosen_trial}, the highest validation PR-AUC ({self.best_validation_pr_auc:.4f})"
        best = max((t for t in self.trials if t.validation_pr_auc is not None and t.number != 0),
                   key=lambda t: t.validation_pr_auc)
        verdict = "beyond the noise: its parameters are used" if self.chosen_trial else (
            "inside the noise: the base parameters are kept")
        return (f"trial {best.number} against the base parameters (trial 0) on validation: {self.gain.describe()}, "
                f"{verdict}")

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
    "imbalance_power": (0.0, 1.0, False),  # 0: unweighted .. 1: the classes weigh the same (the default)
    "max_delta_step": (0.0, 10.0, False),  # 0: no cap (the default); 1-10 tames the steps a heavy weight drives
    "gamma": (0.0, 5.0, False),  # 0: any split (the default)
}


def searched(base: TrainingParams) -> tuple[str, ...]:
    """The parameters searched from `base`: all of `TUNED`, less `imbalance_power` when `base` fixes the weight."""
    return tuple(name for name in TUNED if not (name == "imbalance_power" and base.scale_pos_weight is not None))


def search_space(trial: Any, names: tuple[str, ...] = TUNED) -> dict[str, Any]:
    """The parameters one trial tries (log scales where orders of magnitude matter)."""
    return {name: trial.suggest_int(name, int(SPACE[name][0]), int(SPACE[name][1])) if name == "max_depth"
            else trial.suggest_float(name, SPACE[name][0], SPACE[name][1], log=SPACE[name][2]) for name in names}


def tune(X_train: pd.DataFrame, y_train: Any, X_val: pd.DataFrame, y_val: Any, base: TrainingParams,
         budget: TuningBudget, *, on_trial: Callable[[TrialRecord], None] | None = None) -> TuningResult:
    """Search `search_space` for the highest validation PR-AUC (average precision of the early-stopped
    trees); `on_trial` sees each finished trial (e.g. to log it as a nested MLflow run)."""
    import optuna
    from sklearn.metrics import average_precision_score

    if not budget.enabled:
        raise ValueError("the tuning budget is off (n_trials 0, no timeout): nothing to search")
    check_features(X_train, "X_train")
    check_features(X_val, "X_val")
    train_labels, val_labels = np.asarray(y_train).astype(np.int8), np.asarray(y_val).astype(np.int8)
    names = searched(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=budget.seed, n_startup_trials=budget.n_startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=budget.n_startup_trials,
                                           n_warmup_steps=budget.prune_warmup_rounds, interval_steps=10),
    )

    if budget.start_from_base:
        study.enqueue_trial(base_point(base))

    kept: dict[int, tuple[float, np.ndarray]] = {}  # validation scores of trial 0 and of the best other trial
    fitted: dict[int, tuple[int, TrainingParams, Any]] = {}  # the same two trials' numbers, parameters and trees

    # every trial fits and stops on the same rows (the row budgets and the seed are not searched): drawn once
    sample = weighted_sample(train_labels, base.max_train_rows, base.seed)
    x_fit, y_fit = sample.take(X_train, train_labels)
    stopping = stopping_set(X_val, val_labels, base)

    def objective(trial: Any) -> float:
        params = replace(base, **search_space(trial, names))
        classifier = make_classifier(params, params.class_weight(train_labels), callbacks=[_PruneOnValidation(trial)])
        classifier.fit(x_fit, y_fit, sample_weight=sample.weights, **stopping, verbose=False)
        trial.set_user_attr("rounds", int(classifier.best_iteration) + 1)
        scores = classifier.predict_proba(X_val)[:, 1]
        value = float(average_precision_score(val_labels, scores))
        slot = 0 if trial.number == 0 else 1
        if slot not in kept or value > kept[slot][0]:
            kept[slot] = (value, scores)
            fitted[slot] = (trial.number, params, classifier)
        return value

    def report(_study: Any, frozen: Any) -> None:
        if on_trial is not None:
            on_trial(_record(frozen))

    study.optimize(objective, n_trials=budget.n_trials or None, timeout=budget.timeout_seconds, callbacks=[report])
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"no tuning trial finished within the budget ({budget}); raise n_trials or timeout_seconds")
    records = tuple(_record(t) for t in study.trials)
    base_value = records[0].validation_pr_auc if budget.start_from_base else None
    best = study.best_trial
    result = _with_trees(TuningResult(dict(best.params), float(best.value), records, base_value, best.number), fitted)
    if base_value is None or not budget.beyond_noise or 1 not in kept:
        return result
    gain = bootstrap_pr_auc_difference(val_labels, kept[1][1], kept[0][1], n_resamples=budget.n_resamples,
                                       confidence=budget.confidence, seed=budget.seed)
    if best.number != 0 and gain.clears_zero():
        return replace(result, gain=gain)
    return _with_trees(replace(result, best_params=dict(records[0].params), best_validation_pr_auc=base_value,
                               chosen_trial=0, gain=gain), fitted)


def _with_trees(result: TuningResult, fitted: dict[int, tuple[int, TrainingParams, Any]]) -> TuningResult:
    """`result` holding its chosen trial's parameters and trees (kept for trial 0 and the best other trial)."""
    chosen = [(params, classifier) for number, params, classifier in fitted.values() if number == result.chosen_trial]
    return replace(result, chosen_model=chosen[0] if chosen else None)


def base_point(base: TrainingParams) -> dict[str, Any]:
    """The tuned parameters' values in `base`, as a point of `search_space`; refused when outside it (Optuna
    would only warn, and its sampler would then model a point its space does not hold)."""
    point = {name: getattr(base, name) for name in searched(base)}
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
