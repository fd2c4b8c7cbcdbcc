"""Run configuration of the model-quality assets: feature selection, hyperparameter search, curves."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from fraud_pipelines.training.curves import DEFAULT_SHARES
from fraud_pipelines.training.model import DEFAULT_MAX_STOPPING_ROWS, DEFAULT_MAX_TRAIN_ROWS
from fraud_pipelines.training.selection import SelectionPolicy
from fraud_pipelines.training.tuning import TuningBudget


class SelectionConfig(dg.Config):
    """Feature selection on train + validation; `enabled: false` keeps every feature of the view."""

    enabled: bool = True
    max_mode_share: float = Field(default=0.999, description="Drop a feature whose commonest value fills this share "
                                                             "of train rows.")
    max_correlation: float = Field(default=0.98, description="Of two features this Spearman-correlated, drop the "
                                                             "one with less gain.")
    min_importance: float = Field(default=0.0, description="Drop a feature whose shuffling costs at most this much "
                                                           "validation PR-AUC.")
    min_gain: float = Field(default=0.0, description="The subset is adopted when its validation PR-AUC beats the "
                                                     "full set's by more than this (negative: accept a small loss).")
    max_features: int = Field(default=0, ge=0, description="Keep at most this many, the most useful (0: no limit).")
    n_repeats: int = Field(default=3, ge=1, description="Shuffles per feature (permutation importance).")
    max_rows: int = Field(default=100_000, ge=100, description="Rows sampled for correlations and permutations.")
    seed: int = 42

    def policy(self) -> SelectionPolicy:
        """The selection library's policy for these settings."""
        return SelectionPolicy(max_mode_share=self.max_mode_share, max_correlation=self.max_correlation,
                               min_importance=self.min_importance, min_gain=self.min_gain,
                               max_features=self.max_features or None, n_repeats=self.n_repeats,
                               max_rows=self.max_rows, seed=self.seed)


class TuningConfig(dg.Config):
    """The Optuna budget: `n_trials` 0 and `timeout_seconds` 0 turn the search off (fraud_model keeps its config)."""

    n_trials: int = Field(default=3, ge=0, description="Trials to run (0: no limit by count).")
    timeout_seconds: float = Field(default=0.0, ge=0, description=(
        "Stop starting trials after this long (0, the default: no limit by time, so the search is reproducible). "
        "A time limit makes the number of trials, hence the model, depend on the machine's speed."))
    seed: int = 42
    n_startup_trials: int = Field(default=3, ge=1, description="Random trials before TPE and pruning start.")
    start_from_base: bool = Field(default=True, description=(
        "Trial 0 runs the default parameters, so the best trial is never below them on validation."))
    beyond_noise: bool = Field(default=True, description=(
        "Keep the default parameters unless the best trial beats them on validation beyond the noise (a paired "
        "bootstrap of the validation PR-AUC difference clears 0 at `confidence`)."))
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0, description="Two-sided confidence of that interval.")
    n_estimators: int = Field(default=1_000, ge=1, description="Upper bound of trees per trial (early stopping).")
    early_stopping_rounds: int = Field(default=50, ge=1)
    max_train_rows: int = Field(default=DEFAULT_MAX_TRAIN_ROWS, ge=0, description=(
        "Each trial fits every fraud and a weighted sample of the genuine charges beyond this many train rows "
        "(0: every row); fraud_model reuses the chosen trial's trees when its own value is the same."))
    max_stopping_rows: int = Field(default=DEFAULT_MAX_STOPPING_ROWS, ge=0, description=(
        "Validation rows early stopping and pruning read each round (every fraud, weighted genuine charges; 0: all); "
        "each trial's PR-AUC is still measured on every validation row."))

    def budget(self) -> TuningBudget:
        """The search's budget for these settings (off when both limits are 0)."""
        return TuningBudget(n_trials=self.n_trials, timeout_seconds=self.timeout_seconds or None, seed=self.seed,
                            n_startup_trials=self.n_startup_trials, start_from_base=self.start_from_base,
                            beyond_noise=self.beyond_noise, confidence=self.confidence)


class CurvesConfig(dg.Config):
    """The learning curve's training shares; an empty list skips it."""

    shares: list[float] = Field(default_factory=lambda: list(DEFAULT_SHARES),
                                description="Shares of the training rows to retrain on (the model itself is 100 %).")
    seed: int = 0


#: `make demo`'s budgets for the model-quality steps (its run config's `ops`): every step still runs (a ranking
#: with permutations, a seeded 3-trial search, the learning curve), on less work than the defaults users get.
DEMO_OPS: dict[str, dict] = {
    "feature_selection": {"config": {"n_repeats": 2, "max_rows": 20_000}},
    "model_tuning": {"config": {"n_trials": 3, "n_estimators": 300, "early_stopping_rounds": 30}},
}
