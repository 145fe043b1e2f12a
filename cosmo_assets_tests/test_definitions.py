"""The Definitions a user sees in the UI: assets, partitions, checks, jobs and the nightly schedule."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import dagster as dg

from cosmo_assets.config import load_config
from cosmo_assets.definitions import defs

STAGES = ["seeds", "outlines", "drafts", "filtered_articles", "balanced_dataset", "dataset_export"]


def test_asset_keys_and_lineage():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(STAGES)
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in STAGES}
    assert parents["seeds"] == set()
    assert parents["outlines"] == {"seeds"}
    assert parents["drafts"] == {"outlines"}
    assert parents["filtered_articles"] == {"drafts"}
    assert "filtered_articles" in parents["balanced_dataset"]
    assert parents["dataset_export"] == {"balanced_dataset"}
    for key in STAGES:
        node = graph.get(dg.AssetKey(key))
        assert node.description and node.owners == ["team:data-factory"] and node.kinds
        assert node.code_version and "reads" in node.metadata
    # Two groups, so the graph reads as the two jobs: per domain x language, then per language.
    assert {k: graph.get(dg.AssetKey(k)).group_name for k in STAGES} == {
        "seeds": "generation", "outlines": "generation", "drafts": "generation", "filtered_articles": "generation",
        "balanced_dataset": "release", "dataset_export": "release",
    }


def test_partition_keys_follow_the_config():
    config = load_config()
    graph = defs.resolve_asset_graph()
    keys = graph.get(dg.AssetKey("drafts")).partitions_def.get_partition_keys()
    assert sorted(keys) == sorted(f"{d}|en" for d in config.domain_names)
    assert "science|en" in keys
    assert graph.get(dg.AssetKey("balanced_dataset")).partitions_def.get_partition_keys() == ["en"]


def test_every_asset_has_a_blocking_contract_check_and_a_staleness_warning():
    graph = defs.resolve_asset_graph()
    checks: dict[str, dict[str, bool]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), {})[key.name] = graph.get_check_spec(key).blocking
    assert set(checks) == set(STAGES)
    for stage, by_name in checks.items():
        assert by_name.pop("inputs_current") is False, stage  # a stale partition warns; it does not block
        assert list(by_name.values()) == [True], stage


def test_jobs_sensor_and_a_first_nightly_that_requests_every_missing_partition():
    assert {j.name for j in defs.jobs} >= {"generate", "release"}
    assert defs.resolve_sensor_def("input_changes").default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("nightly_generate")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "generate"
    tick = datetime.datetime(2026, 11, 26, 2, tzinfo=datetime.timezone.utc)
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as ctx:
        requests = list(schedule.evaluate_tick(ctx).run_requests)
    assert sorted(r.partition_key for r in requests) == sorted(f"{d}|en" for d in load_config().domain_names)
    assert len({r.run_key for r in requests}) == len(requests)


def test_loading_definitions_does_not_load_heavy_libraries():
    code = (
        "import sys, json; import cosmo_assets.definitions; "
        "print(json.dumps({m: m in sys.modules for m in ['litellm', 'great_expectations', 'xllamacpp']}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"litellm": False, "great_expectations": False, "xllamacpp": False}
