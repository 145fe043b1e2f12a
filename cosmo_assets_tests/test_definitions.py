"""The Definitions a user sees in the UI: assets, partitions, checks, jobs and the nightly schedule."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import dagster as dg

from cosmo_assets.config import load_config
from cosmo_assets.definitions import defs
from cosmo_assets.stages.balancing import sql_project

STAGES = ["seeds", "outlines", "drafts", "filtered_articles", "rephrased_articles", "balanced_dataset", "dataset_export"]
SQL_MODELS = ["release_candidates", "balanced_dataset", "balance_composition", "review_sample"]
RELEASE = ["real_text", "quota_allocation", *SQL_MODELS, "dataset_export", "template_reviews"]


def test_asset_keys_and_lineage():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(STAGES) | set(RELEASE) | {"generation_plan"}
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in {*STAGES, *RELEASE}}
    assert parents["seeds"] == set()
    assert parents["outlines"] == {"seeds"}
    assert parents["drafts"] == {"outlines"}
    assert parents["filtered_articles"] == {"drafts"}
    assert parents["rephrased_articles"] == {"filtered_articles"}
    # Waits for the whole of a generate run (its last step), so one release follows it.
    assert parents["release_candidates"] == {"filtered_articles", "outlines", "drafts", "rephrased_articles"}
    assert parents["quota_allocation"] == {"release_candidates"}
    assert parents["balanced_dataset"] == {"release_candidates", "quota_allocation", "real_text", "rephrased_articles"}
    assert parents["dataset_export"] == {"balanced_dataset", "balance_composition"}
    assert parents["template_reviews"] == {"review_sample"}
    for key in {*STAGES, *RELEASE}:
        node = graph.get(dg.AssetKey(key))
        assert node.description and node.owners == ["team:data-factory"] and node.kinds
        if key in STAGES:  # the stages whose freshness is judged record what they read
            assert node.code_version and "reads" in node.metadata
    # Two groups, so the graph reads as the two jobs: per domain x language, then per language.
    assert {k: graph.get(dg.AssetKey(k)).group_name for k in STAGES} == {
        "seeds": "generation", "outlines": "generation", "drafts": "generation", "filtered_articles": "generation",
        "rephrased_articles": "generation", "balanced_dataset": "release", "dataset_export": "release",
    }


def test_every_sql_model_is_an_asset_whose_parents_are_its_refs():
    graph = defs.resolve_asset_graph()
    project = sql_project()
    assert sorted(project.models) == sorted(SQL_MODELS)
    for name, model in project.models.items():
        node = graph.get(dg.AssetKey(name))
        parents = {p.to_user_string() for p in node.parent_keys}
        writers = {"rejected_drafts": "filtered_articles"}
        tables = {writers.get(t, t) for t in model.sources}
        # A model reading the filter's tables also waits for the generate run's last step.
        last = {"rephrased_articles"} if {"filtered_articles", "rejected_drafts"} & {*model.refs, *model.sources} else set()
        # Tables no asset writes on its own (near_duplicate_drops is written by release_candidates) are not parents.
        assert parents == set(model.refs) | last | (tables & {k.to_user_string() for k in graph.get_all_asset_keys()}), name
        assert node.description == model.description and model.description  # the SQL file's header comment
        assert node.partitions_def.get_partition_keys() == ["en"]
    # A model reads every domain of its language from the per-domain stage tables.
    candidates = graph.get(dg.AssetKey("release_candidates"))
    mapping = candidates.partition_mappings[dg.AssetKey("filtered_articles")]
    assert isinstance(mapping, dg.MultiToSingleDimensionPartitionMapping)


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
    assert set(checks) == set(STAGES) | set(RELEASE)
    for stage, by_name in checks.items():
        if stage in STAGES:  # the stages whose freshness is judged
            assert by_name.pop("inputs_current") is False, stage  # a stale partition warns; it does not block
        assert by_name and all(by_name.values()), stage


def test_jobs_sensor_and_a_first_nightly_that_requests_every_missing_partition():
    assert {j.name for j in defs.jobs} >= {"generate", "release", "review"}
    release = {k.to_user_string() for k in defs.resolve_job_def("release").asset_layer.selected_asset_keys}
    assert release == set(RELEASE) - {"template_reviews"}
    assert defs.resolve_sensor_def("input_changes").default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("nightly_generate")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "generate"
    tick = datetime.datetime(2026, 11, 26, 2, tzinfo=datetime.UTC)
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as ctx:
        requests = list(schedule.evaluate_tick(ctx).run_requests)
    assert sorted(r.partition_key for r in requests) == sorted(f"{d}|en" for d in load_config().domain_names)
    assert len({r.run_key for r in requests}) == len(requests)


def test_loading_definitions_does_not_load_heavy_libraries():
    code = (
        "import sys, json; import cosmo_assets.definitions; "
        "print(json.dumps({m: m in sys.modules for m in ['litellm', 'great_expectations', 'xllamacpp', 'pandas']}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    # pandas: a third of a second of every Dagster process's start, pulled in by a table schema read at import
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "litellm": False, "great_expectations": False, "xllamacpp": False, "pandas": False}


def test_the_stage_graph_stale_uses_without_definitions_matches_the_asset_graph():
    from cosmo_assets.defs.stage_graph import StageGraph

    from_assets = StageGraph(defs.resolve_asset_graph())
    from_config = StageGraph.for_config(load_config())
    assert from_config.parents == from_assets.parents
    assert {s: sorted(map(str, p)) for s, p in from_config.partitions.items()} == {
        s: sorted(map(str, p)) for s, p in from_assets.partitions.items()
    }
