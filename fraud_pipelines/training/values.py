"""The training assets' outputs (small dicts: versions, run ids, selected features, parameters, metrics) kept as
JSON on their own materialization in Dagster's event log, so any later run can load them.

Dagster's default IO manager becomes an in-memory one in `execute_in_process` and `dg.materialize`, and pickles to
a local folder otherwise: `fraud_model` materialized alone (the UI, a script, the benchmark's one-asset runs) could
not load `feature_selection` or `model_tuning` from an earlier run. This IO manager writes the value as the
`stored_value` metadata of the materialization (shown in the UI) and loads an input from the upstream asset's
materialization in the same run, else its latest one: wherever the instance keeps its event log (SQLite under
`$FRAUD_HOME/dagster`, PostgreSQL on a cluster), without pickles or a local disk. An upstream asset never
materialized, or last materialized before its value was recorded, is refused with what to materialize.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import numpy as np

#: The metadata entry holding the JSON text of an asset's output.
VALUE_KEY = "stored_value"
#: Largest JSON text stored (the values are a few KB; anything bigger is a mistake, not data).
MAX_CHARS = 200_000


class ValueNotStoredError(dg.Failure):
    """An input whose upstream asset has no stored value to load."""


def to_json(value: Any, *, what: str) -> str:
    """`value` as JSON text (numpy scalars and arrays become plain numbers and lists; NaN is kept)."""
    def plain(item: Any) -> Any:
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, np.ndarray):
            return item.tolist()
        if isinstance(item, (set, frozenset)):
            return sorted(item)
        raise TypeError(f"{type(item).__name__} is not JSON")

    try:
        text = json.dumps(value, default=plain, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what}: its output cannot be stored as JSON ({error}); return plain dicts, lists, "
                        "strings and numbers") from None
    if len(text) > MAX_CHARS:
        raise ValueError(f"{what}: its output is {len(text):,} characters of JSON, more than the {MAX_CHARS:,} a "
                         "stored value may hold; keep data in the feature store or MLflow and return references")
    return text


class TrainingValuesIOManager(dg.ConfigurableIOManager):
    """Stores an asset's output as JSON metadata on its materialization; loads it from the upstream asset's
    materialization of the same run, else its latest."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        what = context.asset_key.to_user_string()
        context.add_output_metadata({VALUE_KEY: dg.MetadataValue.text(to_json(obj, what=what))})

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        event = _materialization(context, key)
        name = key.to_user_string()
        if event is None:
            raise ValueNotStoredError(description=(
                f"{name} has never been materialized in this Dagster instance, so there is no value to load: "
                f"materialize {name} (or the whole training group) first, then this asset"))
        entry = event.asset_materialization.metadata.get(VALUE_KEY) if event.asset_materialization else None
        if entry is None:
            raise ValueNotStoredError(description=(
                f"{name}'s latest materialization (run {event.run_id[:8]}) holds no stored value (it was made by an "
                f"earlier version of the project): materialize {name} again, then this asset"))
        return json.loads(entry.value)


def _materialization(context: dg.InputContext, key: dg.AssetKey) -> Any:
    """The upstream asset's materialization event in the current run when it ran there, else its latest."""
    instance = context.instance
    try:
        run_id = context.step_context.run_id
    except Exception:  # noqa: BLE001 -- outside a run (Definitions.load_asset_value) there is no step
        run_id = None
    if run_id:
        records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        mine = [r.event_log_entry for r in records if r.event_log_entry.dagster_event.asset_key == key]
        if mine:
            return mine[-1]
    return instance.get_latest_materialization_event(key)


#: The one instance the training assets name with `io_manager_def` (bound to the assets, so a run of any subset
#: of them, from the UI, `dg.materialize` or a script, stores and loads the same way).
TRAINING_VALUES = TrainingValuesIOManager()
