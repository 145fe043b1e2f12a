"""The rephrased_articles stage: kept articles rewritten in other formats, held to their source's facts by the
same gates, naming it in derived_from; a release mixing curated, document-seeded and rephrased articles."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import duckdb
import polars as pl
import pytest

from cosmo_assets import contracts
from cosmo_assets.config import DEFAULT_CONFIG_DIR, ConfigError, load_config
from cosmo_assets.fingerprints import changed_inputs, fingerprint
from cosmo_assets.stages.real_text import load_real_text
from cosmo_assets.storage import create_tables
from cosmo_assets_tests.conftest import definitions, edit_yaml, instance_in, table
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, extract_reply, varied_reply

ALPHA = {"domain": "alpha", "language": "en"}
BETA = {"domain": "beta", "language": "en"}
ALL_SOURCES = ("articles", "real_text", "documents")


def _article_of(prompt: str) -> str:
    return re.search(r'"""\n(.+?)\n"""', prompt, flags=re.S).group(1)


# A closing answer that states no name or figure (a short document's rewrite needs some words of its own).
_REMARKS = ("Careful observation of ordinary things is how much of what we know began. Asking why each step happens "
            "makes an idea easier to remember, and checking each answer against the text shows what is still unclear.")


def _faithful(prompt: str) -> str:
    """A model that answers each kind of prompt well; a rewrite keeps every paragraph of its article."""
    if prompt.startswith("Here is an extract from"):
        return extract_reply(prompt)
    if "Rewrite the article below" in prompt:
        paragraphs = _article_of(prompt).split("\n\n")
        return "\n\n".join([*(f"Question {i + 1}: what does this part say?\nAnswer: {p}" for i, p in enumerate(paragraphs)),
                             f"Question {len(paragraphs) + 1}: why does it matter?\nAnswer: {_REMARKS}"])
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
    mixed_config(config_dir, sources=ALL_SOURCES)
    generated, released, server = _generate_and_release(config_dir, tmp_path, monkeypatch, _faithful)
    assert generated.success and released.success
    checks = {e.check_name: e.passed for r in (generated, released) for e in r.get_asset_check_evaluations()}
    assert checks["rephrased_contract"] and checks["balanced_contract"]
    rephrased = table(config_dir, "SELECT source_kind, derived_from, format, kept, template_id, fact_coverage FROM rephrased_articles")
    kept_ids = {i for (i,) in table(config_dir, "SELECT draft_id FROM filtered_articles")}
    real = load_real_text(load_config(config_dir), "en").filter(pl.col("domain") == "alpha")
    documents = {i for (i,) in table(config_dir, "SELECT source_id FROM seeds WHERE source = 'documents'")}
    assert kept_ids and real.height and documents
    # One rewrite per kept article, per real text of the domain and per document seed, each naming its source.
    assert sorted((k, d) for k, d, *_ in rephrased) == sorted(
        [("article", i) for i in kept_ids] + [("real_text", i) for i in real["id"]] + [("document", i) for i in documents])
    assert all(k and t == f"rephrase/{f}.j2" for _, _, f, k, t, _ in rephrased)
    # Every name and figure of a document's extract kept (None: an extract that names none).
    assert {c for kind, *_, c in rephrased if kind != "article"} == {1.0, None}
    assert sum("Rewrite the article below" in p for p in server.prompts) == len(rephrased)

    rows = table(config_dir, "SELECT source, seed_source, id, derived_from, title FROM balanced_dataset")
    synthetic = [r for r in rows if r[0] == "synthetic"]
    assert {r[1] for r in synthetic} == {"curated_jsonl", "documents"}  # curated and document-seeded articles
    mixed = [r for r in rows if r[0] == "rephrased"]
    assert len(mixed) == round(len(synthetic) * 0.2 / (1 - 0.1 - 0.2)) > 0  # balance.yaml rephrased.share of the release
    # Rewrites of released articles and of real-text documents, each naming what it rewrites.
    sources = {r[2]: "article" for r in synthetic} | dict.fromkeys(real["id"], "real_text") | dict.fromkeys(documents, "document")
    assert {sources[r[3]] for r in mixed} <= {"article", "real_text", "document"}
    real_rows = [r for r in rows if r[0] == "real"]
    assert len(real_rows) == min(round(len(synthetic) * 0.1 / 0.7), table(config_dir, "SELECT count(*) FROM real_text")[0][0])

    # A share the supply cannot meet releases every kept rewrite: of the articles and of both kinds of document;
    # real text stays at its share of what is released (not of a release the rewrites could not fill).
    edit_yaml(config_dir / "balance.yaml", lambda d: d["rephrased"].update(share=0.8))
    with instance_in(tmp_path) as instance:
        again = definitions(config_dir, seeds=12).resolve_job_def("release").execute_in_process(
            partition_key="en", instance=instance, raise_on_error=False)
    checks = {e.check_name: e.passed for e in again.get_asset_check_evaluations()}
    failed = [e.description for e in again.get_asset_check_evaluations() if not e.passed]
    failed += [str(e.message)[:500] for e in again.all_events if e.is_step_failure]
    assert again.success and checks["balanced_contract"] and checks["quota_targets"], failed
    counts = dict(table(config_dir, "SELECT source, count(*) FROM balanced_dataset GROUP BY source"))
    assert counts["real"] == min(round((counts["synthetic"] + counts["rephrased"]) * 0.1 / 0.9),
                                 table(config_dir, "SELECT count(*) FROM real_text")[0][0])
    mixed = table(config_dir, "SELECT seed_source, derived_from, title FROM balanced_dataset WHERE source = 'rephrased'")
    released = {i for (i,) in table(config_dir, "SELECT id FROM balanced_dataset WHERE source = 'synthetic'")}
    # Every rewrite is kept above; an article's is released with the article.
    assert sorted(d for _, d, _ in mixed) == sorted(d for k, d, *_ in rephrased if k != "article" or d in released)
    assert {sources[d] for _, d, _ in mixed} == {"article", "real_text", "document"}
    titles = dict(real.select("id", "title").iter_rows())
    assert all(seed_source == "real_text" and title == titles[d] for seed_source, d, title in mixed if sources[d] == "real_text")


def test_rewrites_that_change_the_facts_are_rejected_with_their_reasons(config_dir, tmp_path, monkeypatch):
    mixed_config(config_dir, sources=ALL_SOURCES)
    generated, _, _ = _generate_and_release(config_dir, tmp_path, monkeypatch, _inventive, release=False)
    assert generated.success  # the rewrites' verdicts are data, not a failed run
    rows = table(config_dir, "SELECT source_kind, kept, reject_reasons FROM rephrased_articles")
    assert {kind for kind, *_ in rows} == {"article", "real_text", "document"} and not any(k for _, k, _ in rows)
    # A document's rewrite is held to the document's own names and figures, an article's to its seed facts.
    assert all({"contradicts_facts", "unsupported_claims"} & set(reasons) for *_, reasons in rows)
    assert any("contradicts_facts" in reasons for kind, _, reasons in rows if kind == "document")


def test_share_zero_calls_no_model(config_dir, tmp_path, monkeypatch):
    mixed_config(config_dir, share=0.0, sources=ALL_SOURCES)
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
    edit_yaml(config_dir / "balance.yaml", lambda d: d["rephrased"].update(formats=["dialogue"], sources=["web"]))
    with pytest.raises(ConfigError, match=r"balance.yaml: field 'rephrased.sources.0'.*'articles', 'real_text' or 'documents'"):
        load_config(config_dir)


def test_a_changed_real_text_or_document_file_stales_the_rephrasing_of_the_partitions_that_read_it(config_dir):
    mixed_config(config_dir, sources=ALL_SOURCES)  # alpha reads the documents file; both domains the corpus

    def judged():
        config = load_config(config_dir)
        return {p["domain"]: fingerprint(config, "rephrased_articles", p, None) for p in (ALPHA, BETA)}

    before = judged()
    corpus, documents = config_dir / "real_text" / "tiny_real.jsonl", config_dir / "knowledge_base" / "documents" / "sample_en.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8").replace("The cause is gravity.", "Gravity is the cause."), encoding="utf-8")
    documents.write_text(documents.read_text(encoding="utf-8").replace("Moon", "moon"), encoding="utf-8")
    after = judged()
    assert changed_inputs(before["alpha"].digests(), after["alpha"]) == [
        "configs/real_text/tiny_real.jsonl changed", "configs/knowledge_base/documents/sample_en.jsonl changed"]
    assert changed_inputs(before["beta"].digests(), after["beta"]) == ["configs/real_text/tiny_real.jsonl changed"]
    edit_yaml(config_dir / "seeds.yaml", lambda d: d["documents"].update(extract_chars=500))  # another extract, other facts
    assert "configs/seeds.yaml documents changed" in changed_inputs(after["beta"].digests(), judged()["beta"])
    # Rewriting kept articles only (the default), or not at all, neither file is an input.
    for change in ({"sources": ["articles"]}, {"share": 0.0}):
        edit_yaml(config_dir / "balance.yaml", lambda d, change=change: d["rephrased"].update(change))
        assert not {"real_text", "documents", "document_extract"} & set(judged()["alpha"].digests())


def test_the_contract_names_rewrites_of_sources_the_partition_did_not_read():
    rows = pl.DataFrame({"rephrase_id": ["r1", "r2", "r3"], "derived_from": ["draft_a", "real_x", "doc-gone"],
                         "source_kind": ["article", "real_text", "document"], "kept": [True, True, False],
                         "text": ["a", "b", None], "reject_reasons": [[], [], ["too_short"]]})
    read = pl.DataFrame({"source_kind": ["article", "real_text", "document"], "derived_from": ["draft_a", "real_x", "doc-kept"]})
    outcome = contracts.check_rephrased(rows, read)
    assert not outcome.passed
    assert outcome.failures == ["1 rows derive from no kept article, real text or document of the partition"]
    assert contracts.check_rephrased(rows[:2], read).passed


def test_a_table_made_before_document_rewrites_takes_rows_without_an_outline(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # the table as the first rephrasing stage made it
        con.execute('CREATE TABLE rephrased_articles (rephrase_id VARCHAR NOT NULL, derived_from VARCHAR NOT NULL, '
                    'outline_id VARCHAR NOT NULL, seed_id VARCHAR NOT NULL)')
        con.execute("INSERT INTO rephrased_articles VALUES ('r0', 'draft_a', 'outline_a', 'seed_a')")
        create_tables(con, "rephrased_articles")
        con.execute("INSERT INTO rephrased_articles (rephrase_id, derived_from, source_kind, domain, language, format, "
                    "template_id, template_version, model, status, kept) VALUES "
                    "('r1', 'real_x', 'real_text', 'alpha', 'en', 'dialogue', 'rephrase/dialogue.j2', 'v', 'm', 'ok', true)")
        assert con.execute("SELECT rephrase_id, outline_id, seed_id FROM rephrased_articles ORDER BY 1").fetchall() == [
            ("r0", "outline_a", "seed_a"), ("r1", None, None)]
