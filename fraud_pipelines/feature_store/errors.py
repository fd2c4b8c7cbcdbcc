"""The feature store's exceptions: one narrow family, so callers can catch exactly what they mean.

Every error raised on purpose by `fraud_pipelines.feature_store` derives from
`FeatureStoreError`; the message names what was wrong and where. Nothing already stored is
changed when one of them is raised during a write.
"""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Base of every error the feature store raises on purpose."""


class NotFoundError(FeatureStoreError, LookupError):
    """A feature group, feature view, training dataset version or table does not exist (yet)."""


class SchemaMismatchError(FeatureStoreError):
    """Data or a spec does not fit what is stored; the fix is usually a new version (version + 1)."""


class InvalidInputError(FeatureStoreError, ValueError):
    """An argument or a batch of rows is malformed (missing column, null key, bad time range...)."""


class ConcurrentWriteError(FeatureStoreError):
    """Another writer committed a conflicting change to the same table first; retry the write."""


__all__ = [
    "ConcurrentWriteError",
    "FeatureStoreError",
    "InvalidInputError",
    "NotFoundError",
    "SchemaMismatchError",
]
