"""An embedded feature store: feature groups on Delta tables, point-in-time correct feature views,
versioned training datasets, and an online store -- generic, with no knowledge of Dagster or fraud.

    fs = FeatureStore(root)
    fg = fs.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime")
    fg.insert(df)
    fv = fs.get_or_create_feature_view("fraud", query=labels.select_all().join(fg.select([...])),
                                       labels=["is_fraud"])
"""

from .errors import (
    ConcurrentWriteError,
    FeatureStoreError,
    InvalidInputError,
    NotFoundError,
    SchemaMismatchError,
)
from .feature_group import FeatureGroup
from .feature_store import FeatureStore
from .feature_view import FeatureView
from .online_store import OnlineStore, OnlineTableSpec
from .query import Condition, FeatureRef, Query
from .sqlite_online_store import SQLiteOnlineStore
from .statistics import StatisticsConfig
from .training_dataset import TrainingDatasetVersion
from .transformations import (
    LabelEncoder,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
    TransformationFunction,
)

__all__ = [
    "Condition",
    "ConcurrentWriteError",
    "FeatureGroup",
    "FeatureRef",
    "FeatureStore",
    "FeatureStoreError",
    "FeatureView",
    "InvalidInputError",
    "LabelEncoder",
    "MinMaxScaler",
    "NotFoundError",
    "OneHotEncoder",
    "OnlineStore",
    "OnlineTableSpec",
    "Query",
    "RobustScaler",
    "SQLiteOnlineStore",
    "SchemaMismatchError",
    "StandardScaler",
    "StatisticsConfig",
    "TrainingDatasetVersion",
    "TransformationFunction",
]
