"""Scoring a window of charges with one registered version: the feature view's batch data with
that version's transformation state, calibrated scores, decisions and reason codes. Shared by the
champion's `batch_scores` and the challenger's `shadow_scores`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_pipelines.governance.reason_texts import reason_texts
from fraud_pipelines.governance.reasons import Explainer
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.model import select_features
from fraud_pipelines.training.registry import LoadedModel

#: Which charges get reason codes: every one, only alerts (what an analyst reviews), or none.
#: With every charge explained, one XGBoost prediction gives the scores and the contributions
#: (governance.saabas); bench/bench_reason_codes.py has the costs.
ReasonCodes = Literal["all", "alerts", "none"]


@dataclass(frozen=True)
class VersionScorer:
    """One registered version ready to score windows of the `transactions` group."""

    model: LoadedModel
    model_name: str
    feature_view: Any  # FeatureView, init_batch_scoring done for the version's training dataset
    transactions: Any  # the `transactions` feature group
    explainer: Explainer
    transformed: tuple[str, ...]  # features the model sees encoded: reasons show their stored value

    @classmethod
    def load(cls, registry: Any, fs: Any, version: str, training_dataset_version: int | str) -> VersionScorer:
        """Registered `version`, with the feature view's transformation state of its training data."""
        from fraud_pipelines.features import groups

        model = registry.load_version(version)
        fv = fraud_view.get_or_create(fs)
        fv.init_batch_scoring(int(training_dataset_version))
        transformed = tuple(name for name in model.feature_names if name in fraud_view.TRANSFORMATIONS)
        return cls(model, registry.registered_model_name, fv, groups.TRANSACTIONS.get_or_create(fs),
                   Explainer.from_classifier(model.classifier, model.feature_names), transformed)

    def score(self, start: datetime, end: datetime, *, reasons: ReasonCodes = "all") -> pd.DataFrame:
        """The charges with event time in [start, end), scored (columns of `scoring.tables.SCORES`);
        `reasons` says which rows get reason codes (the others get null). The scores are the same
        whichever rows are explained."""
        if reasons not in ("all", "alerts", "none"):
            raise ValueError(f"reasons must be 'all', 'alerts' or 'none', got {reasons!r}")
        spine = self.transactions.read(start, end, columns=["tid", "cc_num", "datetime", *self.transformed])
        features = self.feature_view.get_batch_data(spine=spine[["tid", "datetime"]], primary_key=True)
        if not features["tid"].equals(spine["tid"]):
            raise RuntimeError("batch data rows do not line up with the charges being scored")
        chosen = select_features(features, self.model.feature_names)  # checked as predict_proba checks it
        saabas = self.explainer.saabas if reasons == "all" and self.explainer.method == "saabas" else None
        contributions = matrix = None
        if saabas is not None:  # one prediction: every row's contributions and the trees' probability
            matrix = chosen.to_numpy(dtype=np.float64, na_value=np.nan)
            contributions, raw = saabas.predict(matrix)
            score = self.model.calibrator.transform(raw)
        else:
            score = self.model.predict_proba(chosen)
        scored = spine[["tid", "cc_num", "datetime"]].assign(
            fraud_score=score,
            decision=(score >= self.model.threshold).astype(np.int8),
            threshold=self.model.threshold,
            model_name=self.model_name,
            model_version=str(self.model.version),
            reasons=None,
        )
        rows = np.flatnonzero(scored["decision"].to_numpy() == 1) if reasons == "alerts" else np.arange(len(scored))
        if reasons != "none" and len(rows):
            every = len(rows) == len(scored)  # no row selection to copy
            if matrix is None:
                matrix = (chosen if every else chosen.iloc[rows]).to_numpy(dtype=np.float64, na_value=np.nan)
                contributions = self.explainer.contributions(matrix)
            readable = {name: spine[name] if every else spine[name].iloc[rows] for name in self.transformed}
            texts = reason_texts(contributions, matrix, self.explainer.feature_names, readable=readable)
            if not every:  # the explained rows' texts in place, null elsewhere
                at = np.full(len(scored), -1, dtype=np.int64)
                at[rows] = np.arange(len(rows))
                texts = texts.take(pa.array(at, mask=at < 0))
            scored["reasons"] = pd.arrays.ArrowExtensionArray(texts)
        return scored
