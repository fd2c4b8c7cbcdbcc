"""Earlier registered versions scored on a candidate's test rows, each through its own training
dataset's fitted transformations, so a promotion compares every scorer on exactly the same charges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_pipelines.training.fraud_view import read_splits
from fraud_pipelines.training.promotion import PromotionPolicy
from fraud_pipelines.training.registry import RegistryOperations


def rescore_versions(mlflow: RegistryOperations, fv, td_version: int, champion: str | None, policy: PromotionPolicy,
                     *, spine: pd.DataFrame | None = None
                     ) -> tuple[list[tuple[str, str, np.ndarray, float]], list[str]]:
    """The champion and the `policy.n_previous` latest other registered versions, each scored on the
    candidate's test rows with its own transformations: (version, role, scores, threshold) and the
    versions that could not be re-scored, with why. `spine`: the test rows' `tid` and `datetime` when the
    caller read them already (else the test split is read again for them)."""
    if champion is None:
        return [], []
    wanted = [(champion, "champion")] + [(v, "previous") for v in
                                         mlflow.latest_versions(policy.n_previous, exclude=(champion,))]
    references, skipped, splits = [], [], {}
    for ref_version, role in wanted:
        try:
            loaded = mlflow.load_version(ref_version)
            ref_td = int(mlflow.version_tags(ref_version)["training_dataset_version"])
            if ref_td not in splits:
                splits[ref_td] = split_rows_for(fv, td_version, ref_td, spine=spine)
            references.append((ref_version, role, loaded.predict_proba(splits[ref_td]), loaded.threshold))
        except Exception as error:  # noqa: BLE001 -- an old version that cannot be re-scored is named, not fatal
            if role == "champion":
                raise
            skipped.append(f"v{ref_version}: {type(error).__name__}: {str(error)[:200]}")
    return references, skipped


def split_rows_for(fv, version: int, other_version: int, *, spine: pd.DataFrame | None = None) -> pd.DataFrame:
    """The test rows of training dataset `version` (their `spine` of tid and datetime, when given), transformed with
    training dataset `other_version`'s fitted state."""
    if spine is None:
        spine = split_spine(fv, version)
    fv.init_batch_scoring(other_version)
    batch = fv.get_batch_data(spine=spine, primary_key=True)
    if not batch["tid"].equals(spine["tid"].reset_index(drop=True)):
        raise RuntimeError("batch data for another training dataset did not keep the test split's row order")
    return batch.drop(columns=["tid"])


def split_spine(fv, version: int) -> pd.DataFrame:
    """The `tid` and `datetime` of training dataset `version`'s test rows, in their order."""
    [(x_test_keys, _)] = read_splits(fv, version, ("test",), primary_key=True, event_time=True)
    return x_test_keys[["tid", "datetime"]]
