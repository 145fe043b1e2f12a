"""The rephrased_articles stage: kept articles rewritten in other formats, held to their source's facts by the
same gates, naming it in derived_from; a release mixing curated, document-seeded and rephrased articles."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import pytest

from cosmo_assets.config import DEFAULT_CONFIG_DIR, ConfigError, load_config
from cosmo_assets.fingerprints import fingerprint
from cosmo_assets_tests.conftest import definitions, edit_yaml, instance_in, table
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, extract_reply, varied_reply

ALPHA = {"domain": "alpha", "language": "en"}


def _article_of(prompt: str) -> str:
    return re.search(r'"""\n(.+?)\n"""', prompt, flags=re.S).group(1)


def _faithful(prompt: str) -> str:
    """A model that answers each kind of prompt well; a rewrite keeps every paragraph of its article."""
    if prompt.startswith("Here is an extract from"):
        return extract_reply(prompt)
    if "Rewrite the article below" in prompt:
        paragraphs = _article_of(prompt).split("\n\n")
        return "\n\n".join(f"Question {i + 1}: what does this part say?\nAnswer: {p}" for i, p in enumerate(paragraphs))
    return varied_reply(prompt)


def _inventive(prompt: str) -> str:
    """Rewrites that change every figure and add a source the article never names."""
    if "Rewrite the article below" in prompt:
        return (re.sub(r"\d[\d,.]*", "7,777", _faithful(prompt))
                + "\n\nProfessor Hildegard Mayfield of Northbridge University counted 4,321 visitors in 1999.")
    return _faithful(prompt)


def mixed_config(config_dir, share=0.2, sources=("articles",)):
    """alpha reads its curated seeds and the bundled documents (those about cells, bees, tides, iron, yeast);
    balance.yaml rephrased rewrites `sources` at `share`."""
    (config_dir / "knowledge_base" / "documents").mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "knowledge_base" / "documents" / "sample_en.jsonl", config_dir / "knowledge_base" / "documents")
    edit_yaml(config_dir / "domains" / "alpha.yaml", lambda d: d.update(
        sources=[{"kind": "documents", "path": "knowledge_base/documents/sample_en.jsonl"}]))
    edit_yaml(config_dir / "seeds.yaml", lambda d: d["documents"].update(
        keyword_rules={"alpha": ["cell", "cells", "bee", "tides", "iron", "yeast"]}))
    edit_yaml(config_dir / "balance.yaml", lambda d: d["rephrased"].update(share=share, sources=list(sources)))
    return config_dir


def _generate_and_release(config_dir, tmp_path, monkeypatch, behaviour, release=True):
    with FakeLLMServer(behaviour=behaviour) as server, instance_in(tmp_path) as instance:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        defs = definitions(config_dir, seeds=12)
        generated = defs.resolve_job_def("generate").execute_in_process(
            partition_key=dg.MultiPartitionKey(ALPHA), instance=instance)
        released = defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance) if release else None
        return generated, released, server


def test_a_release_mixes_curated_document_seeded_and_rephrased_articles_at_their_shares(config_dir, tmp_path, monkeypatch):
    mixed_config(config_dir)
    generated, released, server = _generate_and_release(config_dir, tmp_path, monkeypatch, _faithful)
    assert generated.success and released.success
    checks = {e.check_name: e.passed for r in (generated, released) for e in r.get_asset_check_evaluations()}
    assert checks["rephrased_contract"] and checks["balanced_contract"]
    rephrased = table(config_dir, "SELECT derived_from, format, kept, template_id FROM rephrased_articles")
    kept_ids = {i for (i,) in table(config_dir, "SELECT draft_id FROM filtered_articles")}
    assert len(rephrased) == len(kept_ids) and {d for d, *_ in rephrased} == kept_ids  # one rewrite per kept article
    assert all(k and t == f"rephrase/{f}.j2" for _, f, k, t in rephrased)
    assert sum("Rewrite the article below" in p for p in server.prompts) == len(kept_ids)

    rows = table(config_dir, "SELECT source, seed_source, id, derived_from FROM balanced_dataset")
    synthetic = [r for r in rows if r[0] == "synthetic"]
    assert {r[1] for r in synthetic} == {"curated_jsonl", "documents"}  # curated and document-seeded articles
    mixed = [r for r in rows if r[0] == "rephrased"]
    assert len(mixed) == round(len(synthetic) * 0.2 / (1 - 0.1 - 0.2)) > 0  # balance.yaml rephrased.share of the release
    assert {r[3] for r in mixed} <= {r[2] for r in synthetic}  # each rewrites an article the release carries
    real = [r for r in rows if r[0] == "real"]
    assert len(real) == min(round(len(synthetic) * 0.1 / 0.7), table(config_dir, "SELECT count(*) FROM real_text")[0][0])


def test_rewrites_that_change_the_facts_are_rejected_with_their_reasons(config_dir, tmp_path, monkeypatch):
    mixed_config(config_dir)
    generated, _, _ = _generate_and_release(config_dir, tmp_path, monkeypatch, _inventive, release=False)
    assert generated.success  # the rewrites' verdicts are data, not a failed run
    rows = table(config_dir, "SELECT kept, reject_reasons FROM rephrased_articles")
    assert rows and not any(k for k, _ in rows)
    assert all({"contradicts_facts", "unsupported_claims"} & set(reasons) for _, reasons in rows)


def test_share_zero_calls_no_model(config_dir, tmp_path, monkeypatch):
    mixed_config(config_dir, share=0.0)
    generated, _, server = _generate_and_release(config_dir, tmp_path, monkeypatch, _faithful, release=False)
    assert generated.success and table(config_dir, "SELECT count(*) FROM rephrased_articles")[0][0] == 0
    assert not any("Rewrite the article below" in p for p in server.prompts)


def test_rephrasing_settings_and_templates_are_fingerprinted_and_checked(config_dir):
    before = fingerprint(load_config(config_dir), "rephrased_articles", ALPHA, None)
    with (config_dir / "templates" / "rephrase" / "dialogue.j2").open("a", encoding="utf-8") as handle:
        handle.write("{# edited #}\n")
    after = fingerprint(load_config(config_dir), "rephrased_articles", ALPHA, None)
    assert before.digests()["rephrase_templates"] != after.digests()["rephrase_templates"]
    edit_yaml(config_dir / "balance.yaml", lambda d: d["rephrased"].update(share=0.85))
    with pytest.raises(ConfigError, match=r"balance.yaml: field '\(top level\)'.*rephrased.share \(0.85\) must not exceed 0.9"):
        load_config(config_dir)
    edit_yaml(config_dir / "balance.yaml", lambda d: d["rephrased"].update(share=0.1, formats=["limerick"]))
    with pytest.raises(ConfigError, match=r"balance.yaml: field 'rephrased.formats.0'"):
        load_config(config_dir)
