"""A real Dagster run of raw tables → feature groups → feature view → training dataset on string
transaction ids: the ids are stored exactly and every feature equals the integer-id run's."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_pipelines.features import groups
from fraud_pipelines.features.assets import FEATURE_ASSETS
from fraud_pipelines.features.checks import FEATURE_CHECKS
from fraud_pipelines.features.writes import typed_table
from fraud_pipelines.raw.assets import RAW_ASSETS
from fraud_pipelines.resources import MlflowResource, RawSourceResource, StorageResource
from fraud_pipelines.scoring.assets import SCORING_ASSETS, scores_table
from fraud_pipelines.tables import DeltaDayTable
from fraud_pipelines.training import fraud_view
from fraud_pipelines.training.assets import TRAINING_ASSETS, fraud_feature_view, training_dataset

SMALL = dict(n_cards=400, transactions_per_day=400, horizon_days=10, seed=3, fraud_rate=0.03)
DAYS = ("2025-01-01", "2025-01-06")
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
PIPELINE = [*FEATURE_ASSETS, *FEATURE_CHECKS, fraud_feature_view, training_dataset]


class StringIdStorage(StorageResource):
    """Raw tables whose `tid` is a string, as the data contract may declare."""

    def raw_table(self, name: str) -> DeltaDayTable:
        table = super().raw_table(name)
        if "tid" not in table.schema.names:
            return table
        schema = table.schema.set(table.schema.get_field_index("tid"), pa.field("tid", pa.string()))
        return DeltaDayTable(table.uri, schema, time_column=table.time_column, storage_options=table.storage_options)


def string_id(tid: int) -> str:
    return f"T{tid:016x}"  # lexicographic order = numeric order


def copy_raw_with_string_ids(source: StorageResource, target: StringIdStorage) -> None:
    for name in ("profiles", "credit_cards"):
        target.raw_table(name).replace_all(source.raw_table(name).read())
    for name in ("transactions", "fraud_labels"):
        frame = source.raw_table(name).read()
        frame["tid"] = np.array([string_id(t) for t in frame["tid"]], dtype=object)
        days = sorted(frame["datetime"].dt.date.unique())
        target.raw_table(name).replace_days(frame, days)


def contents(storage: StorageResource) -> dict[str, pd.DataFrame]:
    fs = storage.feature_store()
    return {spec.name: spec.get_or_create(fs).read().sort_values("datetime", kind="stable").reset_index(drop=True)
            for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS)}


def test_string_ids_run_through_features_and_training_data_unchanged(tmp_path):
    ints = StorageResource(root=str(tmp_path / "ints"))
    strings = StringIdStorage(root=str(tmp_path / "strings"))
    source = RawSourceResource(**SMALL)
    instance = dg.DagsterInstance.ephemeral()
    raw = dg.materialize(RAW_ASSETS, tags=RANGE_TAGS, instance=instance,
                         resources={"storage": ints, "raw_source": source})
    assert raw.success
    copy_raw_with_string_ids(ints, strings)
    stored = strings.raw_table("transactions").read()
    assert pa.types.is_string(pa.Table.from_pandas(stored[["tid"]]).schema.field("tid").type)

    outcome = {}
    for name, storage in (("ints", ints), ("strings", strings)):
        result = dg.materialize(PIPELINE, tags=RANGE_TAGS, instance=instance,
                                resources={"storage": storage, "raw_source": source})
        assert result.success, name
        assert all(e.passed for e in result.get_asset_check_evaluations()), name
        outcome[name] = result.output_for_node("training_dataset")

    by_int, by_string = contents(ints), contents(strings)
    for group, frame in by_string.items():
        assert frame["tid"].map(type).eq(str).all(), group
        expected = by_int[group].assign(tid=by_int[group]["tid"].map(string_id))
        pd.testing.assert_frame_equal(frame, expected, check_exact=True, check_dtype=False)

    fv_ints = fraud_view.get_or_create(ints.feature_store())
    fv_strings = fraud_view.get_or_create(strings.feature_store())
    split_ints = fv_ints.get_train_validation_test_split(outcome["ints"]["version"])
    split_strings = fv_strings.get_train_validation_test_split(outcome["strings"]["version"])
    for a, b in zip(split_ints, split_strings):
        pd.testing.assert_frame_equal(pd.DataFrame(a).reset_index(drop=True), pd.DataFrame(b).reset_index(drop=True),
                                      check_exact=True)
    assert len(split_strings[0]) > 0

    # On to a model and batch scores: the scores keep the string ids.
    scored = dg.materialize([*TRAINING_ASSETS, *SCORING_ASSETS], tags=RANGE_TAGS, instance=instance,
                            resources={"storage": strings, "raw_source": source, "mlflow": MlflowResource()},
                            run_config={"ops": {"fraud_model": {"config": {"n_estimators": 20}}}})
    assert scored.success
    scores = scores_table(strings).read()
    assert len(scores) == len(by_string["transactions"])
    assert set(scores["tid"]) == set(by_string["transactions"]["tid"])


def test_an_empty_chunk_of_string_ids_keeps_its_columns_typed():
    empty = pd.DataFrame({"tid": np.array([], dtype=object), "sex": np.array([], dtype=object),
                          "amount": np.array([], dtype=np.float64)})
    table = typed_table(empty, strings=("tid", "sex"))
    assert table.schema.field("tid").type == pa.string() and table.schema.field("sex").type == pa.string()
    ints = typed_table(pd.DataFrame({"tid": np.array([], dtype=np.int64)}), strings=("tid",))
    assert ints.schema.field("tid").type == pa.int64()
