"""Train the XGBoost fraud classifier: imbalance-weighted, early-stopped on the validation split,
seeded, with its alert threshold chosen on the validation split too.

The class weight is `scale_pos_weight = (negatives / positives) ** imbalance_power`: 1 (the default) makes
both classes weigh the same in the loss, 0 leaves them unweighted, and values between (0.5: the square root)
are how fraud teams usually tune it, as one number that means the same at any fraud rate.

A train split beyond `max_train_rows` (default 1M) is fitted on every fraud and a weighted sample of the genuine
charges (`sampling`): on 10M charges the fit takes a fraction of the time for the same test PR-AUC (README,
"Training on large splits"); validation and test are never sampled.

xgboost and scikit-learn are imported inside functions: Dagster loads this module with the definitions, and
the imports alone cost seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from fraud_pipelines.training.calibration import CalibrationReport, Calibrator, fit_calibrator
from fraud_pipelines.training.evaluation import check_labels_and_scores
from fraud_pipelines.training.sampling import weighted_sample
from fraud_pipelines.training.thresholds import RULES, choose_threshold

#: Rows a fit uses at most: beyond it, every fraud and a weighted sample of the genuine charges (`sampling`).
DEFAULT_MAX_TRAIN_ROWS = 1_000_000
#: Validation rows early stopping's PR-AUC reads each round, drawn the same way: on 1M validation rows that
#: metric cost more than the boosting itself (~0.3 CPU s a round).
DEFAULT_MAX_STOPPING_ROWS = 250_000

#: `TrainingParams` fields applied to the trees' scores after fitting (the booster does not depend on them).
AFTER_THE_TREES = frozenset({"threshold_rule", "target_precision", "max_fpr", "cost_false_positive",
                             "cost_false_negative", "calibration"})


@dataclass(frozen=True, kw_only=True)
class TrainingParams:
    """XGBoost settings and the threshold rule; every field is logged to MLflow as a param."""

    n_estimators: int = 1_000  # an upper bound: early stopping picks the number of trees
    learning_rate: float = 0.05
    max_depth: int = 6
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    scale_pos_weight: float | None = None  # None: (negatives / positives of the train labels) ** imbalance_power
    imbalance_power: float = 1.0  # 1: both classes weigh the same; 0.5: the square root; 0: unweighted
    max_delta_step: float = 0.0  # caps each tree's leaf step (0: no cap); XGBoost's advice for extreme imbalance
    gamma: float = 0.0  # the least loss reduction a split must bring (0: any)
    seed: int = 42
    n_jobs: int | None = None  # None: all cores; hist training is deterministic either way
    threshold_rule: Literal["max_f1", "target_precision", "max_recall_at_fpr", "min_cost"] = "max_f1"
    target_precision: float = 0.5  # used by threshold_rule="target_precision"
    max_fpr: float = 0.01  # used by threshold_rule="max_recall_at_fpr"
    cost_false_positive: float = 1.0  # used by threshold_rule="min_cost": reviewing a genuine alert
    cost_false_negative: float = 100.0  # used by threshold_rule="min_cost": a missed fraud
    calibration: Literal["auto", "platt", "isotonic", "none"] = "auto"  # fitted on validation scores
    max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS  # beyond: every fraud, weighted genuine charges; 0: every row
    max_stopping_rows: int = DEFAULT_MAX_STOPPING_ROWS  # validation rows early stopping reads, drawn alike; 0: all

    def __post_init__(self) -> None:
        if self.threshold_rule not in RULES:
            raise ValueError(f"threshold_rule must be one of {', '.join(RULES)}, got {self.threshold_rule!r}")
        if not 0.0 <= self.max_fpr < 1.0:
            raise ValueError(f"max_fpr must be within [0, 1), got {self.max_fpr!r}")
        if min(self.cost_false_positive, self.cost_false_negative) < 0:
            raise ValueError("cost_false_positive and cost_false_negative must be >= 0")
        if not 0.0 < self.target_precision <= 1.0:
            raise ValueError(f"target_precision must be within (0, 1], got {self.target_precision!r}")
        if self.calibration not in ("auto", "platt", "isotonic", "none"):
            raise ValueError(f"calibration must be auto, platt, isotonic or none, got {self.calibration!r}")
        if self.n_estimators < 1 or self.early_stopping_rounds < 1:
            raise ValueError("n_estimators and early_stopping_rounds must be at least 1")
        if self.max_train_rows < 0 or self.max_stopping_rows < 0:
            raise ValueError(f"max_train_rows and max_stopping_rows must be >= 0 (0: every row), got "
                             f"{self.max_train_rows!r} and {self.max_stopping_rows!r}")
        negative = {name: getattr(self, name) for name in ("imbalance_power", "max_delta_step", "gamma")
                    if not getattr(self, name) >= 0}
        if negative or (self.scale_pos_weight is not None and not self.scale_pos_weight > 0):
            raise ValueError(f"imbalance_power, max_delta_step and gamma must be >= 0 and scale_pos_weight > 0 when "
                             f"set, got {negative or {'scale_pos_weight': self.scale_pos_weight}}")

    def class_weight(self, y_train: np.ndarray) -> float:
        """The weight of a fraud in the loss: `scale_pos_weight` when set, else the train labels' imbalance
        raised to `imbalance_power`."""
        return self.scale_pos_weight or imbalance_weight(y_train, self.imbalance_power)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (MLflow params, Dagster metadata)."""
        return asdict(self)

    def tree_params(self) -> dict[str, Any]:
        """The fields the trees depend on: all but calibration and the threshold rule's, which act after them."""
        return {k: v for k, v in asdict(self).items() if k not in AFTER_THE_TREES}


@dataclass(frozen=True)
class TrainedModel:
    """A fitted classifier with what scoring needs: feature order, calibration, threshold (on the
    calibrated probability), training facts."""

    classifier: Any  # xgboost.XGBClassifier, typed loosely to keep xgboost's import lazy
    feature_names: tuple[str, ...]
    threshold: float
    params: TrainingParams
    scale_pos_weight: float
    best_iteration: int
    validation_pr_auc: float
    n_train_rows: int
    n_train_positives: int
    calibrator: Calibrator = Calibrator()
    calibration: CalibrationReport | None = None
    n_fitted_rows: int | None = None  # rows the trees were fitted on (None: every train row)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated fraud probability per row (shape (n_rows,)), using the early-stopped trees."""
        return self.calibrator.transform(self.raw_proba(X))

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The trees' score per row before calibration (weighted by the class imbalance)."""
        return self.classifier.predict_proba(select_features(X, self.feature_names))[:, 1]

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, largest first; features never split on get 0."""
        return feature_importance(self.classifier, self.feature_names)

    def summary(self) -> dict[str, float | int]:
        """Facts learned in training, for MLflow params/metrics and asset metadata."""
        return {
            "threshold": self.threshold,
            "scale_pos_weight": self.scale_pos_weight,
            "best_iteration": self.best_iteration,
            "n_trees": self.best_iteration + 1,
            "validation_pr_auc": self.validation_pr_auc,
            "n_train_rows": self.n_train_rows,
            "n_train_positives": self.n_train_positives,
            "n_fitted_rows": self.n_train_rows if self.n_fitted_rows is None else self.n_fitted_rows,
            **(self.calibration.metrics() if self.calibration else {}),
        }


def check_features(X: pd.DataFrame, what: str) -> None:
    """Refuse feature frames XGBoost would misread: non-DataFrames, duplicate or non-numeric columns."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(X).__name__}")
    if X.empty or X.shape[1] == 0:
        raise ValueError(f"{what} is empty ({X.shape[0]} rows, {X.shape[1]} columns)")
    not_text = [name for name in X.columns if not isinstance(name, str)]
    if not_text:
        raise ValueError(f"{what} column names must be strings, got {not_text[:5]}")
    duplicated = X.columns[X.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{what} has duplicated columns: {duplicated}")
    not_numeric = [
        f"{column} ({dtype})"
        for column, dtype in X.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if not_numeric:
        raise ValueError(
            f"{what} has non-numeric columns {not_numeric}; apply the feature view's "
            "transformation functions first (categoricals become integer codes)"
        )
    infinite = [c for c in X.columns if np.isinf(X[c].to_numpy(dtype=np.float64, na_value=np.nan)).any()]
    if infinite:
        raise ValueError(f"{what} has infinite values in columns {infinite}")


def select_features(X: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.DataFrame:
    """The training columns of `X`, in training order; extra columns (keys, times) are ignored."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(X).__name__}")
    missing = [name for name in feature_names if name not in X.columns]
    if missing:
        raise ValueError(f"features are missing columns the model was trained on: {missing}")
    selected = X.loc[:, list(feature_names)]
    check_features(selected, "features")
    return selected


def imbalance_weight(y_train: np.ndarray, power: float = 1.0) -> float:
    """(negatives / positives) ** power: at power 1 the weight that makes both classes count equally in the loss."""
    positives = int(y_train.sum())
    return ((len(y_train) - positives) / positives) ** power


def feature_importance(classifier: Any, feature_names: tuple[str, ...]) -> pd.Series:
    """Total gain per feature from a fitted XGBClassifier, largest first."""
    gains = classifier.get_booster().get_score(importance_type="total_gain")
    importance = pd.Series({name: float(gains.get(name, 0.0)) for name in feature_names}, name="total_gain")
    return importance.sort_values(ascending=False, kind="stable")


def _check_split(X: pd.DataFrame, y: Any, what: str) -> np.ndarray:
    check_features(X, f"X_{what}")
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise ValueError(f"X_{what} has {len(X)} rows but y_{what} has {len(labels)} labels")
    try:
        labels, _ = check_labels_and_scores(labels, np.zeros(len(labels)))
    except ValueError as error:
        raise ValueError(f"y_{what}: {error}") from None
    return labels


def make_classifier(params: TrainingParams, scale_pos_weight: float, callbacks: list[Any] | None = None) -> Any:
    """The unfitted XGBClassifier of `params`: hist trees, early stopping on validation PR-AUC (aucpr)."""
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        max_depth=params.max_depth,
        min_child_weight=params.min_child_weight,
        subsample=params.subsample,
        colsample_bytree=params.colsample_bytree,
        reg_lambda=params.reg_lambda,
        max_delta_step=params.max_delta_step,
        gamma=params.gamma,
        scale_pos_weight=scale_pos_weight,
        early_stopping_rounds=params.early_stopping_rounds,
        eval_metric="aucpr",
        tree_method="hist",
        random_state=params.seed,
        n_jobs=params.n_jobs,
        callbacks=callbacks,
    )


def train_model(
    X_train: pd.DataFrame,
    y_train: Any,
    X_val: pd.DataFrame,
    y_val: Any,
    params: TrainingParams | None = None,
) -> TrainedModel:
    """Fit XGBoost on the train split (on every fraud and a weighted sample of the genuine charges beyond
    `params.max_train_rows`), early-stopping on validation PR-AUC, calibrate its scores on validation and pick the
    threshold on the calibrated validation probabilities.

    Both splits need both classes; the validation columns must match the train columns.
    """
    params = params or TrainingParams()
    train_labels = _check_split(X_train, y_train, "train")
    val_labels = _check_split(X_val, y_val, "val")
    if list(X_val.columns) != list(X_train.columns):
        raise ValueError(
            f"X_val columns differ from X_train: missing {sorted(set(X_train.columns) - set(X_val.columns))}, "
            f"extra {sorted(set(X_val.columns) - set(X_train.columns))} (order must match too)"
        )
    weight = params.class_weight(train_labels)  # of the whole split: the sample's weights keep its balance
    fitted = weighted_sample(train_labels, params.max_train_rows, params.seed)
    classifier = make_classifier(params, weight)
    classifier.fit(*fitted.take(X_train, train_labels), sample_weight=fitted.weights,
                   **stopping_set(X_val, val_labels, params), verbose=False)
    return finish_model(classifier, X_val, val_labels, params, scale_pos_weight=float(weight),
                        n_train_rows=len(train_labels), n_train_positives=int(train_labels.sum()),
                        n_fitted_rows=fitted.n_rows)


def stopping_set(X_val: pd.DataFrame, y_val: np.ndarray, params: TrainingParams) -> dict[str, Any]:
    """The `fit` arguments of early stopping: validation, or every fraud of it and a weighted sample of its genuine
    charges beyond `params.max_stopping_rows` (weighted PR-AUC: the same curve in expectation, a fraction of the
    cost per round). The model's reported validation PR-AUC, calibration and threshold use every row."""
    rows = weighted_sample(y_val, params.max_stopping_rows, params.seed)
    return {"eval_set": [rows.take(X_val, y_val)],
            "sample_weight_eval_set": [rows.weights] if rows.sampled else None}


def finish_model(classifier: Any, X_val: pd.DataFrame, y_val: Any, params: TrainingParams, *, scale_pos_weight: float,
                 n_train_rows: int, n_train_positives: int, n_fitted_rows: int | None = None) -> TrainedModel:
    """A fitted classifier made a `TrainedModel`: its validation scores calibrated and thresholded as
    `train_model` does. Also takes a classifier fitted earlier on the same splits (the search's base trial)."""
    from sklearn.metrics import average_precision_score

    val_labels = _check_split(X_val, y_val, "val")
    feature_names = tuple(str(name) for name in X_val.columns)
    raw_val_scores = classifier.predict_proba(X_val)[:, 1]
    calibrator, calibration = fit_calibrator(val_labels, raw_val_scores, method=params.calibration, seed=params.seed)
    threshold = choose_threshold(
        val_labels, calibrator.transform(raw_val_scores), rule=params.threshold_rule,
        target_precision=params.target_precision, max_fpr=params.max_fpr,
        cost_false_positive=params.cost_false_positive, cost_false_negative=params.cost_false_negative,
    )
    return TrainedModel(
        classifier=classifier,
        feature_names=feature_names,
        threshold=threshold,
        params=params,
        scale_pos_weight=scale_pos_weight,
        best_iteration=int(classifier.best_iteration),
        validation_pr_auc=float(average_precision_score(val_labels, raw_val_scores)),
        n_train_rows=n_train_rows,
        n_train_positives=n_train_positives,
        calibrator=calibrator,
        calibration=calibration,
        n_fitted_rows=n_fitted_rows,
    )
