"""The search's chosen trial kept for fraud_model. Each trial fits its parameters on the train split, early-stopped on
validation; fraud_model then trains with the chosen trial's parameters (the best beyond the noise, or trial 0's, the
base parameters) and would fit the very same trees again (XGBoost's hist training is deterministic for a seed: same
rows, same parameters, same booster bytes, tested). The search stores the chosen trial's trees with what they were
fitted on, and fraud_model loads them when that matches what it would fit: at 10M charges one fit of the 7M train
rows (5-10 minutes of boosting on this machine) is saved.

Stored as artifacts of the search's MLflow run: the booster (XGBoost's own UBJSON), the key and facts (JSON) and the
five train rows MLflow keeps as the model's input example (Parquet, dtypes kept).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_pipelines.training.model import TrainingParams

#: Artifact folder of the search's run holding the chosen trial.
FOLDER = "chosen_trial"
MODEL_FILE = "model.ubj"
KEY_FILE = "key.json"
EXAMPLE_FILE = "input_example.parquet"


@dataclass(frozen=True)
class TrialTrees:
    """The chosen trial's fitted classifier, the train facts `TrainedModel` records, and the input example."""

    classifier: Any
    scale_pos_weight: float
    n_train_rows: int
    n_train_positives: int
    input_example: pd.DataFrame
    n_fitted_rows: int | None = None  # rows the trees were fitted on (None: every train row)


def trial_key(training_dataset_version: int, features: list[str], params: TrainingParams) -> dict[str, Any]:
    """What the trees depend on: the training dataset version (its rows are pinned), the features in order and
    the parameters the booster sees."""
    return {"training_dataset_version": int(training_dataset_version), "features": [str(f) for f in features],
            "tree_params": params.tree_params()}


def save_trial_trees(client: Any, run_id: str, trial: int, classifier: Any, *, key: dict[str, Any], y_train: Any,
                     input_example: pd.DataFrame) -> None:
    """Store trial `trial`'s trees, key and facts under `FOLDER` of MLflow run `run_id`."""
    import numpy as np

    from fraud_pipelines.training.sampling import weighted_sample

    labels = np.asarray(y_train)
    tree_params = key["tree_params"]  # the rows a fit draws follow from these (`model.train_model`)
    fitted = weighted_sample(labels, tree_params["max_train_rows"], tree_params["seed"])
    facts = {"trial": int(trial), "scale_pos_weight": float(classifier.get_params()["scale_pos_weight"]),
             "n_train_rows": int(len(labels)), "n_train_positives": int(labels.sum()),
             "n_fitted_rows": int(fitted.n_rows)}
    with tempfile.TemporaryDirectory(prefix="trial_trees_") as folder:
        local = Path(folder) / FOLDER
        local.mkdir()
        classifier.save_model(str(local / MODEL_FILE))
        (local / KEY_FILE).write_text(json.dumps({"key": key, "facts": facts}, indent=1, sort_keys=True))
        input_example.head(5).to_parquet(local / EXAMPLE_FILE)
        client.log_artifacts(run_id, str(local), artifact_path=FOLDER)


def load_trial_trees(client: Any, run_id: str | None, key: dict[str, Any]) -> tuple[TrialTrees | None, str]:
    """The chosen trial of search run `run_id` when it was fitted on exactly `key`, else None; and a sentence saying
    which."""
    from xgboost import XGBClassifier

    if not run_id:
        return None, "no search ran: the trees are fitted here"
    names = {a.path for a in client.list_artifacts(run_id, FOLDER)}
    if f"{FOLDER}/{KEY_FILE}" not in names:
        return None, f"search run {run_id} kept no trees: the trees are fitted"
    with tempfile.TemporaryDirectory(prefix="trial_trees_") as folder:
        local = Path(client.download_artifacts(run_id, FOLDER, folder))
        stored = json.loads((local / KEY_FILE).read_text())
        trial = stored["facts"]["trial"]
        if stored["key"] != json.loads(json.dumps(key)):
            differ = sorted(k for k in key if stored["key"].get(k) != json.loads(json.dumps(key[k])))
            return None, (f"trial {trial} of search run {run_id} was fitted on another {', '.join(differ)}: "
                          "the trees are fitted")
        classifier = XGBClassifier()
        classifier.load_model(str(local / MODEL_FILE))
        example = pd.read_parquet(local / EXAMPLE_FILE)
    facts = stored["facts"]
    return (TrialTrees(classifier=classifier, scale_pos_weight=float(facts["scale_pos_weight"]),
                       n_train_rows=int(facts["n_train_rows"]), n_train_positives=int(facts["n_train_positives"]),
                       input_example=example, n_fitted_rows=facts.get("n_fitted_rows")),
            f"the trees of trial {trial} of search run {run_id} (the same rows, features and parameters) are used, "
            "not fitted again")
