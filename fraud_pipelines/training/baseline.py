"""The simple model every XGBoost candidate must beat: a class-balanced logistic regression.

Missing values are imputed with the train median (plus a missing-indicator column), features
are standardised; it scores with the same `predict_proba(X) -> (n_rows,)` as the XGBoost model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fraud_pipelines.training.evaluation import check_labels_and_scores
from fraud_pipelines.training.model import check_features, select_features

if TYPE_CHECKING:  # scikit-learn (~1.5 s to import) is imported where the baseline is fitted
    from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class LogisticBaseline:
    """A fitted impute → scale → logistic-regression pipeline and its feature order."""

    pipeline: Pipeline
    feature_names: tuple[str, ...]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Fraud probability per row, shape (n_rows,)."""
        return self.pipeline.predict_proba(_as_matrix(select_features(X, self.feature_names)))[:, 1]


#: Rows the baseline is fitted on at most (a seeded sample beyond): a linear model on ten features learns
#: nothing more from 7M rows than from 1M, and each of the pipeline's copies of 7M rows costs ~0.6 GB.
MAX_ROWS = 1_000_000


def train_baseline(X_train: pd.DataFrame, y_train: Any, *, seed: int = 42, max_rows: int = MAX_ROWS
                   ) -> LogisticBaseline:
    """Fit the baseline on the train split, or a seeded sample of `max_rows` of it (class weights balance
    the rare fraud class)."""
    check_features(X_train, "X_train")
    labels = np.asarray(y_train)
    if len(labels) != len(X_train):
        raise ValueError(f"X_train has {len(X_train)} rows but y_train has {len(labels)} labels")
    labels, _ = check_labels_and_scores(labels, np.zeros(len(labels)))
    if len(labels) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(labels), max_rows, replace=False))
        X_train, labels = X_train.iloc[rows], labels[rows]
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2_000, random_state=seed),
    )
    pipeline.fit(_as_matrix(X_train), labels)
    return LogisticBaseline(pipeline=pipeline, feature_names=tuple(X_train.columns))


def _as_matrix(X: pd.DataFrame) -> np.ndarray:
    # nullable integer/boolean columns become float with NaN, which the imputer understands
    return X.to_numpy(dtype=np.float64, na_value=np.nan)
