"""The Definitions load with no secrets and no flags, and hold what the UI should show."""

from __future__ import annotations

import dagster as dg

from fraud_pipelines.definitions import defs


def asset_keys() -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)


def test_raw_assets_groups_and_partitions():
    graph = defs.resolve_asset_graph()
    for name in ("raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards"):
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "raw"
    assert graph.get(dg.AssetKey("raw_transactions")).partitions_def is not None
    assert graph.get(dg.AssetKey("raw_profiles")).partitions_def is None


def test_every_raw_table_has_a_blocking_check():
    checks = {key.asset_key.to_user_string(): key.name for key in defs.resolve_asset_graph().asset_check_keys}
    for name in ("raw_transactions", "raw_fraud_labels", "raw_profiles", "raw_credit_cards"):
        assert checks.get(name) == f"{name}_suite"
    graph = defs.resolve_asset_graph()
    assert all(graph.get_check_spec(check).blocking for check in graph.asset_check_keys)


def test_main_job_exists():
    job = defs.resolve_job_def("fraud_pipeline_job")
    assert job.partitions_def is not None
