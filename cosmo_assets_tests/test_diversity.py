"""Diversity you can see: opening repetition and stock phrases beside the n-gram and MinHash figures, in the
drafts' and the release's metadata and the dataset card, with WARN checks against filters.yaml's floors."""

from __future__ import annotations

import dagster as dg
import pytest

from cosmo_assets.config import ConfigError, load_config
from cosmo_assets.diversity import below_floors, diversity_figures, grouped_figures
from cosmo_assets.fingerprints import fingerprint
from cosmo_assets_tests.conftest import definitions, edit_yaml, instance_in
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, varied_reply

EN_PHRASES = ["one of the most", "testament to", "in today's world"]


def test_opening_repetition_and_stock_phrases_are_counted():
    texts = [
        "Marie Curie was one of the most famous scientists. Her work is a testament to patience.",
        "Marie Curie was one of the first women to teach at the Sorbonne.",
        "In today's world, rivers still carry trade, and one of the most used is the Rhine.",
        "Volcanoes form where molten rock rises through the crust.",
    ]
    figures = diversity_figures(texts, EN_PHRASES, opening_words=4)
    # "marie curie was one" opens two of the four texts.
    assert figures["opening_repetition"] == 0.5
    assert figures["stock_phrases"] == {"one of the most": 2, "in today's world": 1, "testament to": 1}
    words = sum(len(t.split()) for t in texts) + 1  # "today's" is two words to the tokenizer
    assert figures["stock_phrase_rate"] == round(1000 * 4 / words, 3)
    assert diversity_figures(texts[3:], EN_PHRASES)["stock_phrases"] == {}
    assert diversity_figures(texts[2:], EN_PHRASES)["opening_repetition"] == 0.0


def test_floors_name_each_figure_that_crosses_them():
    floors = {"min_distinct_4gram_share": 0.5, "max_opening_repetition": 0.25, "max_stock_phrase_rate": None}
    figures = {"texts": 6, "distinct_4gram_share": 0.42, "opening_repetition": 0.5, "stock_phrase_rate": 9.0}
    assert below_floors(figures, floors, min_texts=5) == [
        "distinct_4gram_share 0.42 below min_distinct_4gram_share 0.5",
        "opening_repetition 0.5 above max_opening_repetition 0.25",
    ]
    assert below_floors(figures, floors, min_texts=7) == []  # too few texts to judge
    grouped = grouped_figures({"arts": ["a b c d e"], "science": ["f g h i j"]})
    assert list(grouped) == ["all", "arts", "science"] and grouped["all"]["texts"] == 2


def test_a_bad_floor_names_the_file_and_field(config_dir):
    edit_yaml(config_dir / "filters.yaml", lambda d: d["diversity"]["floors"].update(max_opening_repetition=2))
    with pytest.raises(ConfigError, match=r"filters.yaml: field 'diversity.floors.max_opening_repetition'"):
        load_config(config_dir)


def test_changing_the_floors_stales_nothing(config_dir):
    before = fingerprint(load_config(config_dir), "filtered_articles", {"domain": "alpha", "language": "en"}, None)
    edit_yaml(config_dir / "filters.yaml", lambda d: d["diversity"]["floors"].update(min_distinct_4gram_share=0.9))
    after = fingerprint(load_config(config_dir), "filtered_articles", {"domain": "alpha", "language": "en"}, None)
    assert before.digest == after.digest


def _same_opening(prompt: str) -> str:
    return "One of the most groundbreaking ideas of all. " + varied_reply(prompt)


@pytest.mark.parametrize("behaviour, passed", [(varied_reply, True), (_same_opening, False)])
def test_drafts_and_release_report_diversity_and_warn_below_the_floors(config_dir, tmp_path, monkeypatch, behaviour, passed):
    edit_yaml(config_dir / "filters.yaml", lambda d: d["diversity"].update(min_texts=3))
    edit_yaml(config_dir / "filters.yaml", lambda d: d["diversity"]["floors"].update(max_stock_phrase_rate=1.0))
    with FakeLLMServer(behaviour=behaviour) as server, instance_in(tmp_path) as instance:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        defs = definitions(config_dir, seeds=4)
        generated = defs.resolve_job_def("generate").execute_in_process(
            partition_key=dg.MultiPartitionKey({"domain": "alpha", "language": "en"}), instance=instance)
        released = defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance)
    assert generated.success and released.success
    checks = {e.check_name: e for r in (generated, released) for e in r.get_asset_check_evaluations()}
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for r in (generated, released) for e in r.get_asset_materialization_events()}
    drafts = metadata["drafts"]["draft_diversity"].value
    assert drafts["texts"] == 4 and {"opening_repetition", "stock_phrase_rate", "stock_phrases"} <= set(drafts)
    release = metadata["dataset_export"]["diversity"].value
    assert set(release) == {"all", "alpha"} and release["all"]["texts"] >= 3
    card = metadata["dataset_export"]["dataset_card"].value
    assert "## Diversity" in card and f"| alpha | {release['alpha']['texts']} |" in card
    for name in ("drafts_diversity", "release_diversity"):
        assert checks[name].passed is passed and checks[name].severity == dg.AssetCheckSeverity.WARN, name
    if passed:
        assert drafts["opening_repetition"] == 0.0 and drafts["stock_phrases"] == {}
    else:
        assert drafts["opening_repetition"] == 1.0 and drafts["stock_phrases"] == {"groundbreaking": 4, "one of the most": 4}
        description = checks["drafts_diversity"].description
        assert "alpha|en: " in description and "opening_repetition 1.0 above max_opening_repetition 0.5" in description
        assert "stock_phrase_rate" in description and '"one of the most" 4' in card
