"""The fraud feature groups: names, keys, descriptions and quality suites, declared once.

The assets write through these specs; the feature view and the REST service read through them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from feature_logic.transactions import FEATURE_DESCRIPTIONS as TRANSACTION_FEATURES
from feature_logic.windows import FEATURE_DESCRIPTIONS as WINDOW_FEATURES
from fraud_pipelines.feature_store.expectations import Expectation
from fraud_pipelines.feature_store.statistics import StatisticsConfig
from fraud_pipelines.features import suites
from fraud_pipelines.privacy.tokens import CARD_COLUMN


@dataclass(frozen=True, kw_only=True)
class GroupSpec:
    """What `FeatureStore.get_or_create_feature_group` needs for one group."""

    name: str
    version: int = 1
    primary_key: tuple[str, ...] = ("tid",)
    event_time: str = "datetime"
    online_enabled: bool = True
    description: str = ""
    histograms: tuple[str, ...] = ()
    feature_descriptions: dict[str, str] = field(default_factory=dict)
    #: The group's Great Expectations suite (without a time window): run before every commit.
    suite: Callable[[], list[Expectation]] | None = None

    def _options(self) -> dict[str, Any]:
        return dict(version=self.version, primary_key=list(self.primary_key), event_time=self.event_time,
                    online_enabled=self.online_enabled, description=self.description,
                    statistics_config=StatisticsConfig(histograms=self.histograms, identifiers=(CARD_COLUMN,)))

    def get_or_create(self, fs: Any) -> Any:
        """The feature group in `fs` (created lazily on first insert), for reading."""
        return fs.get_or_create_feature_group(self.name, **self._options())

    def for_writing(self, fs: Any) -> Any:
        """The group with its suite stored under the "strict" policy: every insert validates the
        new rows before the Delta commit and refuses the batch (nothing offline or online) on a
        failure. The suite is plain `Expectation` specs: GE is imported only if a batch needs its
        judgement."""
        if self.suite is None:
            return self.get_or_create(fs)
        return fs.get_or_create_feature_group(
            self.name,
            **self._options(),
            expectation_suite=self.suite(),
            validation_policy="strict",
        )


# Served features come from the card state (serving/groups.py), computed per request from the
# same logic, so the tid-keyed groups below are offline only: nothing would read an online copy.
TRANSACTIONS = GroupSpec(
    name="transactions",
    online_enabled=False,
    description="Each card charge with its owner's and card's attributes as of the charge, and the "
    "distance and time since the card's previous charge.",
    histograms=("amount", "age_at_transaction", "loc_delta_t_minus_1", "time_delta_t_minus_1"),
    feature_descriptions=TRANSACTION_FEATURES,
    suite=suites.transactions_suite,
)

TRANSACTIONS_4H_AGGS = GroupSpec(
    name="transactions_4h_aggs",
    online_enabled=False,
    description="Per charge, aggregates over its card's charges in the 4 hours up to it: "
    "mean and std of amounts, count, mean distance between consecutive charges.",
    histograms=("trans_volume_mavg", "trans_freq", "loc_delta_mavg"),
    feature_descriptions=WINDOW_FEATURES,
    suite=suites.window_suite,
)

FRAUD_LABELS = GroupSpec(
    name="fraud_labels",
    online_enabled=False,
    description="Whether each charge was fraud; the spine of the fraud feature view. Never served online.",
    feature_descriptions={
        "tid": "Transaction id (primary key).",
        "cc_num": "Keyed token of the card the charge was made with (never the card number).",
        "datetime": "Event time of the charge (UTC).",
        "is_fraud": "1 when the charge was fraud, 0 when genuine.",
        "label_time": "When the label became known (after the charge).",
    },
    suite=suites.labels_suite,
)
