"""Document seeds: a `documents` source kind whose extract goes into the prompt and whose names and numbers are
the facts an article is held to; documents assigned to domains by keyword rules or TF-IDF + k-means clusters."""

from __future__ import annotations

import json
import re
import shutil

import dagster as dg
import pytest

from cosmo_assets.config import DEFAULT_CONFIG_DIR, ConfigError, load_config
from cosmo_assets.knowledge_base.document_domains import by_keywords
from cosmo_assets.knowledge_base.documents import extract, extract_facts, read_documents
from cosmo_assets.stages.seeds import read_seeds
from cosmo_assets_tests.conftest import definitions, edit_yaml, instance_in, table, write_yaml
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, extract_reply

SAMPLE = DEFAULT_CONFIG_DIR / "knowledge_base" / "documents" / "sample_en.jsonl"
RULES = {"alpha": ["cell", "cells", "yeast", "tide", "tides", "bee", "iron"], "beta": ["loom", "gears", "code", "canal"]}


def with_documents(config_dir, rules=RULES, **documents):
    """alpha and beta read only the bundled sample; seeds.yaml assigns its documents by `rules`."""
    (config_dir / "knowledge_base" / "documents").mkdir()
    shutil.copy(SAMPLE, config_dir / "knowledge_base" / "documents" / "sample_en.jsonl")
    for name in ("alpha", "beta"):
        edit_yaml(config_dir / "domains" / f"{name}.yaml", lambda d: d.update(
            knowledge_base=None, sources=[{"kind": "documents", "path": "knowledge_base/documents/sample_en.jsonl"}]))
    edit_yaml(config_dir / "seeds.yaml", lambda d: d["documents"].update(keyword_rules=rules, **documents))
    return load_config(config_dir)


def test_the_extract_is_a_bounded_window_cut_at_a_sentence_end(config_dir):
    settings = load_config(config_dir).seeds.documents.model_copy(update={"extract_chars": 120})
    text = "First sentence is here. Second one follows it closely. " * 5
    piece = extract(text, settings)
    assert len(piece) <= 120 and piece.endswith("closely.") and piece.startswith("First")
    later = extract(text, settings.model_copy(update={"extract_start_chars": 30}))
    assert later.startswith("Second one follows")  # the window starts at the next sentence


def test_the_extracts_names_and_numbers_are_its_facts():
    facts = extract_facts("In August 1858 the cable carried a message from Queen Victoria to President James "
                          "Buchanan. Her greeting of 98 words took more than 16 hours to send.", cap=8)
    assert [f["value"] for f in facts] == ["1858", "Queen Victoria", "President James Buchanan", "98 words", "16 hours"]
    assert {f["property"] for f in facts} == {"figure in the extract", "name in the extract"}


def test_bad_rows_are_quarantined_with_their_reason(config_dir, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "A good text about rivers and tides."}\n{"title": "no text"}\nnot json\n', encoding="utf-8")
    docs, bad = read_documents(path, load_config(config_dir).seeds.limits)
    assert [d.doc_id.startswith("doc-") for d in docs] == [True]
    assert [(b.location, b.reason) for b in bad] == [("line 2", "invalid_row"), ("line 3", "malformed_json")]
    assert "field 'text': expected a non-empty string" in bad[0].detail


def test_keyword_rules_give_each_document_one_domain(config_dir):
    config = with_documents(config_dir)
    docs, _ = read_documents(SAMPLE, config.seeds.limits)
    assignment = by_keywords(docs, RULES)
    assert assignment.domain_of["doc-bee-dance"] == "alpha" and assignment.domain_of["doc-loom-cards"] == "beta"
    assert assignment.domain_of["doc-fresco-plaster"] is None  # says no rule's words: seeds nothing
    alpha = read_seeds(config, "alpha", "en", None).seeds
    beta = read_seeds(config, "beta", "en", None).seeds
    assert not set(alpha["source_id"]) & set(beta["source_id"])
    assert set(alpha["source_id"]) == {d for d, dom in assignment.domain_of.items() if dom == "alpha"}
    bee = alpha.filter(alpha["source_id"] == "doc-bee-dance").row(0, named=True)
    assert bee["title"] == "How honeybees share directions" and bee["description"].startswith("A forager bee")
    assert {"value": "Karl von Frisch", "property": "name in the extract"} in bee["facts"]
    assert bee["keywords"] == ["https://cosmo-assets.example/documents/bee-dance"]


def test_config_errors_name_the_file_and_field(config_dir):
    with pytest.raises(ConfigError, match=r"seeds.yaml: field 'documents.keyword_rules.gamma': 'gamma' is not a configured domain"):
        with_documents(config_dir, rules={"gamma": ["x"]})
    write_yaml(config_dir / "knowledge_base" / "documents" / "sample_en.jsonl", None)
    (config_dir / "knowledge_base" / "documents" / "sample_en.jsonl").write_text('{"body": "x"}\n', encoding="utf-8")
    edit_yaml(config_dir / "seeds.yaml", lambda d: d["documents"].update(keyword_rules=RULES))
    with pytest.raises(ConfigError, match=r"alpha.yaml: field 'sources.0.path': .*line 1 has no 'text' field"):
        load_config(config_dir)
    edit_yaml(config_dir / "seeds.yaml", lambda d: d["documents"].update(extract_chars=5000))
    with pytest.raises(ConfigError, match=r"seeds.yaml: field '\(top level\)'.*documents.extract_chars \(5000\)"):
        load_config(config_dir)


def _inventive(prompt: str) -> str:
    """A model that makes up its own figures and names in place of the extract's."""
    text = re.sub(r"\d[\d,.]*", "7,777", extract_reply(prompt))
    return text + "\n\nProfessor Hildegard Mayfield of Northbridge University wrote about it in 1999."


@pytest.mark.parametrize("behaviour, kept", [(extract_reply, True), (_inventive, False)])
def test_document_seeds_are_prompted_with_their_extract_and_held_to_it(config_dir, tmp_path, monkeypatch, behaviour, kept):
    with_documents(config_dir, assign="clusters", clusters={"k": 3, "random_seed": 1, "top_terms": 5, "exclude": [2], "domains": {}})
    with FakeLLMServer(behaviour=behaviour) as server, instance_in(tmp_path) as instance:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        result = definitions(config_dir, seeds=50).resolve_job_def("generate").execute_in_process(
            partition_key=dg.MultiPartitionKey({"domain": "alpha", "language": "en"}), instance=instance, raise_on_error=False)
    # Every made-up draft is rejected: the filter's kept-share check fails, as for curated seeds.
    assert result.success is kept
    clusters = table(config_dir, "SELECT cluster, top_terms, documents, assigned_domain, excluded FROM document_clusters ORDER BY cluster")
    assert [c[0] for c in clusters] == [0, 1, 2] and sum(c[2] for c in clusters) == 20 and clusters[2][4] is True
    assert all(len(c[1]) == 5 for c in clusters)
    here = sum(c[2] for c in clusters if c[3] == "alpha" and not c[4])
    seeds = table(config_dir, "SELECT source_id, description FROM seeds")
    assert len(seeds) == here and here > 0  # the excluded cluster's documents seed nothing
    prompts = table(config_dir, "SELECT prompt, template_id FROM outlines")
    assert {t for _, t in prompts} == {"document_extract.j2"}
    descriptions = {d for _, d in seeds}
    for prompt, _ in prompts:
        assert prompt.startswith("Here is an extract from “") and any(d in prompt for d in descriptions)
    reasons = [r for (rs,) in table(config_dir, "SELECT reject_reasons FROM rejected_drafts") for r in rs]
    kept_rows = table(config_dir, "SELECT count(*) FROM filtered_articles")[0][0]
    grounding = {"facts_missing", "unsupported_claims", "contradicts_facts"}
    if kept:  # held to its extract, a faithful draft passes the fact gates (a how-to may still miss its shape)
        assert kept_rows >= 1 and not grounding & set(reasons)
    else:
        assert kept_rows == 0 and {"facts_missing", "unsupported_claims"} <= set(reasons)


def test_the_bundled_sample_is_original_and_complete():
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
    assert all(r["text"] and r["title"] and r["language"] == "en" and r["url"].startswith("https://") for r in rows)
