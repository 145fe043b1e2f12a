"""One partition through every stage on a real Dagster instance and a real DuckDB file: first on the
embedded SmolLM2 model, then on a model elsewhere reached through COSMO_LLM_MODEL / COSMO_LLM_API_BASE."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import yaml

from cosmo_assets.config import load_config
from cosmo_assets_tests.conftest import definitions, instance_in, table
from cosmo_assets_tests.fake_llm_server import FakeLLMServer

ALPHA_EN = dg.MultiPartitionKey({"domain": "alpha", "language": "en"})


def check_outcomes(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_one_partition_through_every_stage_on_the_embedded_model(config_dir, tmp_path):
    defs = definitions(config_dir, seeds=3)
    with instance_in(tmp_path) as instance:
        generated = defs.resolve_job_def("generate").execute_in_process(partition_key=ALPHA_EN, instance=instance)
        assert generated.success
        assert check_outcomes(generated) == {
            "seeds_contract": True, "outlines_contract": True, "outlines_mix": True, "drafts_contract": True,
            "drafts_diversity": True, "filter_contract": True, "rephrased_contract": True, "inputs_current": True,
        }
        released = defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance)
        assert released.success
        outcomes = check_outcomes(released)
        if table(config_dir, "SELECT count(*) FROM filtered_articles")[0][0]:
            assert outcomes == {
                "real_text_contract": True, "candidates_contract": True, "allocation_contract": True,
                "balanced_contract": True, "quota_targets": True, "review_sample_contract": True, "export_contract": True,
                "release_diversity": True, "inputs_current": True,
            }
        else:  # all three drafts rejected: an empty release, and its WARN check says so; nothing is blocked
            assert outcomes["balanced_contract"] is False and outcomes["export_contract"] and outcomes["inputs_current"]
        assert len(instance.get_runs()) == 2

    counts = dict(table(config_dir, """
        SELECT 'seeds', count(*) FROM seeds UNION ALL SELECT 'outlines', count(*) FROM outlines
        UNION ALL SELECT 'drafts', count(*) FROM drafts UNION ALL SELECT 'kept', count(*) FROM filtered_articles
        UNION ALL SELECT 'rejected', count(*) FROM rejected_drafts UNION ALL SELECT 'released', count(*) FROM balanced_dataset
    """))
    assert counts["seeds"] == counts["outlines"] == counts["drafts"] == 3
    assert counts["kept"] + counts["rejected"] == 3
    # SmolLM2 keeps about one draft in nine under the gates: three may all be rejected, each with its reasons.
    synthetic = table(config_dir, "SELECT count(*) FROM balanced_dataset WHERE source = 'synthetic'")[0][0]
    assert synthetic <= counts["kept"] and (synthetic >= 1) == (counts["kept"] >= 1)  # quotas may hold some back
    assert counts["released"] - synthetic == round(synthetic * 0.1 / 0.9)  # real text at balance.yaml's share

    drafts = table(config_dir, "SELECT status, model, completion_tokens, cost_usd, latency_s, text FROM drafts")
    for status, model, tokens, cost, latency, text in drafts:
        assert status == "ok" and model == "embedded/smollm2-135m-instruct"
        assert tokens > 50 and cost == 0.0 and latency > 0 and len(text.split()) > 30

    rejected = table(config_dir, "SELECT reject_reasons FROM rejected_drafts")
    assert all(len(reasons) >= 1 for (reasons,) in rejected)

    released = table(config_dir, """
        SELECT id, domain, language, title, topic_type, content_type, audience, style, template_id, model,
               token_count, quality_score, source FROM balanced_dataset WHERE source = 'synthetic'""")
    assert all(None not in row for row in released)
    assert_released_drafts_are_whole_and_clean(config_dir, synthetic)
    released += table(config_dir, "SELECT id FROM balanced_dataset WHERE source = 'real'")

    export = load_config(config_dir).export_dir() / "en"
    shards = sorted((export / "data").glob("*.parquet"))
    exported = pq.read_table(shards)
    assert exported.num_rows == counts["released"]
    assert sorted(exported.column("id").to_pylist()) == sorted(row[0] for row in released)
    front_matter = (export / "README.md").read_text().split("---")[1]
    assert yaml.safe_load(front_matter)["language"] == ["en"]


# What a reader of the release checks by eye: the first words are the article's, not the assistant's.
CHATTY_OPENINGS = re.compile(
    r"^\W*(sure|certainly|of course|absolutely|okay|i'd be happy|as an ai)\b|^\s*(<<|\[)"
    r"|^\W*(here is|here's|here are|below is)\b[^.!?\n]*\b(story|article|text|post|guide|entry|section|how you|how to)\b",
    re.IGNORECASE,
)


def assert_released_drafts_are_whole_and_clean(config_dir: Path, released: int) -> None:
    """No released draft ends mid-sentence, opens with assistant chatter, or repeats 8 words running of its
    prompt's instructions (the outline's section and fact lines, the title and the seed's description aside:
    those are meant to be in the article)."""
    rows = table(config_dir, """
        SELECT b.id, b.text, o.prompt, o.title, s.description FROM balanced_dataset b JOIN drafts d ON d.draft_id = b.id
        JOIN outlines o ON o.outline_id = d.outline_id
        JOIN seeds s ON s.seed_id = o.seed_id AND s.domain = o.domain AND s.language = o.language
        WHERE b.source = 'synthetic'""")
    assert len(rows) == released  # every released synthetic article is looked at (none may be released from three)
    for draft_id, text, prompt, title, description in rows:
        body = text.rstrip().rstrip("\"'”’»)*_")
        assert body[-1:] in (".", "!", "?", "…"), f"{draft_id} ends mid-sentence: ...{text[-80:]!r}"
        assert not CHATTY_OPENINGS.search(text), f"{draft_id} opens with chatter: {text[:80]!r}"
        instructions = " ".join(
            line for line in prompt.replace(title, " ").splitlines() if not re.match(r"^\s*(\d+\.|-)\s", line)
        )
        if description:
            instructions = instructions.replace(description.strip().rstrip("."), " ")
        words = re.findall(r"\w+", instructions.lower())
        said = " ".join(re.findall(r"\w+", text.lower()))
        echoed = [" ".join(words[i : i + 8]) for i in range(len(words) - 7) if " ".join(words[i : i + 8]) in said]
        assert not echoed, f"{draft_id} echoes its prompt: {echoed[:2]}"


def test_rematerialising_a_partition_replaces_its_rows(config_dir, tmp_path, monkeypatch):
    with FakeLLMServer() as server:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        defs = definitions(config_dir, seeds=4)
        with instance_in(tmp_path) as instance:
            job = defs.resolve_job_def("generate")
            assert job.execute_in_process(partition_key=ALPHA_EN, instance=instance).success
            first = table(config_dir, "SELECT draft_id, model, status FROM drafts ORDER BY draft_id")
            assert job.execute_in_process(partition_key=ALPHA_EN, instance=instance).success
            second = table(config_dir, "SELECT draft_id, model, status FROM drafts ORDER BY draft_id")
    assert first == second
    assert len(first) == 4 and {row[1:] for row in first} == {("openai/test-model", "ok")}
    assert server.requests == 4  # the second run's answers came from the response cache
    assert table(config_dir, "SELECT count(*) FROM drafts WHERE cache_hit AND attempts = 0") == [(4,)]
    assert table(config_dir, "SELECT count(*), count(DISTINCT seed_id) FROM seeds") == [(4, 4)]


def test_a_failing_check_stops_the_downstream_stages(config_dir, tmp_path):
    (config_dir / "knowledge_base" / "tiny_kb.jsonl").write_text("")
    defs = definitions(config_dir, seeds=3)
    with instance_in(tmp_path) as instance:
        result = defs.resolve_job_def("generate").execute_in_process(
            partition_key=ALPHA_EN, instance=instance, raise_on_error=False
        )
    assert not result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "seeds_contract" and not evaluation.passed
    assert evaluation.description.startswith("ERROR the partition has seeds (observed: 0)")
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"seeds"}


def test_main_command_runs_every_partition_and_says_where_outputs_are(config_dir, tmp_path):
    with FakeLLMServer() as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COSMO_")},
            "COSMO_CONFIG_DIR": str(config_dir),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "COSMO_LLM_MODEL": "openai/test-model",
            "COSMO_LLM_API_BASE": server.api_base,
            "COSMO_LLM_API_KEY": "test-key-not-secret",
        }
        result = subprocess.run(
            [sys.executable, "-m", "cosmo_assets", "run", "--seeds", "2"],
            env=env, capture_output=True, text=True, timeout=900,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    config = load_config(config_dir)
    assert f"DuckDB file: {config.duckdb_path()}" in result.stdout
    assert f"export: {config.export_dir() / 'en'}" in result.stdout
    assert "[en] drafts 4, kept" in result.stdout
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
    assert sorted((r.job_name, r.tags.get("dagster/partition")) for r in runs) == [
        ("generate", "alpha|en"), ("generate", "beta|en"), ("release", "en"),
    ]
    assert all(r.is_success for r in runs)
