"""Seeds from the curated knowledge base and outlines from templates: stable ids and prompts, structures built from
the facts, the configured mix met per partition, near-duplicate prompts reported, bad rows quarantined."""

from __future__ import annotations

import dataclasses
import json
import re

import dagster as dg
import duckdb
import polars as pl
import pytest

from cosmo_assets.config import load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.diversity import diversity_figures, near_duplicates, signatures
from cosmo_assets.filters import claims
from cosmo_assets.outlining.facts import readable_fact
from cosmo_assets.outlining.structure import FactReader
from cosmo_assets.stages.outlines import TemplateLibrary, plan_outlines, target_words
from cosmo_assets.stages.seeds import build_seeds, read_seeds
from cosmo_assets_tests.conftest import edit_yaml
from cosmo_assets_tests.fake_llm_server import FakeLLMServer


def test_seeds_sample_is_deterministic_and_ids_stable(config_dir):
    config = load_config(config_dir)
    first = build_seeds(config, "alpha", "en", limit=2)
    second = build_seeds(config, "alpha", "en", limit=2)
    assert first.equals(second)
    assert first.height == 2 and first["seed_id"].n_unique() == 2
    everything = build_seeds(config, "alpha", "en", limit=None)
    assert everything.height == 4
    assert set(first["seed_id"]) <= set(everything["seed_id"])
    # The same entity in another domain is another seed.
    assert set(build_seeds(config, "beta", "en", None)["seed_id"]).isdisjoint(everything["seed_id"])


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        (b'{"id": "x", "title": "X", "topic_type": "concept"', "malformed_json", r"not valid JSON \(Expecting ',' delimiter at column 50\)"),
        (b'{"id": "x", "topic_type": "concept"}', "missing_title", r"field 'title' is missing or blank"),
        (b'{"id": "x", "title": "  ", "topic_type": "concept"}', "missing_title", r"field 'title' is missing or blank"),
        (b'{"id": "x", "title": "X", "topic_type": "planet"}', "unknown_topic_type", r"topic_type 'planet' is not one of \['person'"),
        (b'{"id": "x", "title": "Caf\xe9", "topic_type": "concept"}', "bad_encoding", r"not valid UTF-8: byte 0xe9 at offset 25"),
        ('{"id": "x", "title": "Caf\ufffd", "topic_type": "concept"}'.encode(), "bad_encoding", r"field 'title' holds U\+FFFD"),
        (b'{"id": "x", "title": "' + b"T" * 201 + b'", "topic_type": "concept"}', "oversized_field",
         r"field 'title' has 201 characters, more than limits\.title_chars=200"),
        (b'{"id": "x", "title": "X", "topic_type": "concept", "facts": [{"property": "p"}]}', "invalid_row",
         r"field 'facts\.0': expected an object with exactly 'property' and 'value'"),
        (b'{"id": "tiny-1", "title": "X", "topic_type": "concept"}', "duplicate_id", r"field 'id': 'tiny-1' already used on line 1"),
    ],
)
def test_each_kind_of_bad_row_is_quarantined_with_its_reason(config_dir, line, reason, detail):
    kb = config_dir / "knowledge_base" / "tiny_kb.jsonl"
    good = [{"id": f"tiny-{i}", "title": f"Fine {i}", "topic_type": "concept"} for i in (1, 2, 3)]
    kb.write_bytes(json.dumps(good[0]).encode() + b"\n" + line + b"\n" + b"\n".join(json.dumps(g).encode() for g in good[1:]) + b"\n")
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)
    assert sorted(batch.seeds["source_id"]) == ["tiny-1", "tiny-2", "tiny-3"]  # the rest go on
    [bad] = batch.quarantine.iter_rows(named=True)
    assert (bad["reason"], bad["location"], bad["path"]) == (reason, "line 2", str(kb))
    assert re.search(detail, bad["detail"]), bad["detail"]
    assert bad["raw"] or reason == "duplicate_id"  # enough of the row to find it


def test_outlines_are_deterministic_and_carry_their_plan(config_dir):
    config = load_config(config_dir)
    seeds = build_seeds(config, "alpha", "en", None)
    first, second = plan_outlines(config, seeds).outlines, plan_outlines(config, seeds).outlines
    assert first.equals(second)
    assert first.height == seeds.height and first["outline_id"].n_unique() == first.height
    curie = first.filter(pl.col("title") == "Marie Curie").row(0, named=True)
    assert "7 November 1867" in curie["prompt"] and "Warsaw" in curie["prompt"]
    assert curie["template_version"] == TemplateLibrary(config.root / "templates").version(curie["template_id"])
    assert (curie["seed_source"], curie["seed_source_id"]) == ("curated_jsonl", "tiny-marie-curie")
    seed_facts = {(f["property"], f["value"]) for f in seeds.filter(pl.col("title") == "Marie Curie")["facts"][0]}
    listed = {(f["property"], f["value"]) for f in curie["required_facts"]}
    assert listed == seed_facts  # six facts, under the cap of eight: the article must use every one
    for fact in curie["required_facts"]:  # each fact is written as a phrase; the raw value stays in required_facts
        assert f"- {fact['property']}: " not in curie["prompt"]
    for heading in curie["sections"]:
        assert heading in curie["prompt"]


def _seed(title, topic_type, facts, seed_id=None):
    return {
        "seed_id": seed_id or f"seed_{title.lower().replace(' ', '_')}", "domain": "alpha", "language": "en",
        "title": title, "topic_type": topic_type, "description": "", "keywords": [], "source": "curated_jsonl",
        "source_id": title, "facts": [{"property": p, "value": v} for p, v in facts],
    }


def _only(config, content_type):
    """The config with one content type, so a test can look at its structure."""
    settings = config.outlines
    kept = [c.model_copy(update={"weight": 1.0}) for c in settings.content_types if c.id == content_type]
    return dataclasses.replace(config, outlines=settings.model_copy(update={"content_types": kept}))


def test_structures_follow_the_topic_type_and_the_dates(config_dir):
    config = load_config(config_dir)
    curie = _seed("Marie Curie", "person", [
        ("died", "1934-07-04"), ("known for", "radium"), ("born", "1867-11-07"), ("birthplace", "Warsaw"),
        ("award", "Nobel Prize in Physics (1903)"), ("field", "physics")])
    seeds = pl.DataFrame([curie])
    biography = plan_outlines(_only(config, "biography"), seeds).outlines.row(0, named=True)
    assert biography["sections"] == ["Early life", "Work and achievements", "Legacy"]
    assert "1. Early life\n   - born on 7 November 1867\n   - born in Warsaw\n2. Work and achievements\n   - known for radium" in biography["prompt"]
    timeline = plan_outlines(_only(config, "timeline"), seeds).outlines.row(0, named=True)
    assert timeline["sections"] == ["1867", "1903", "1934", "Why it matters"]  # in date order, not fact order
    assert "1. 1867\n   - born on 7 November 1867\n2. 1903\n   - received the Nobel Prize in Physics (1903)\n3. 1934" in timeline["prompt"]
    concept = _seed("Photosynthesis", "concept", [
        ("application", "food production"), ("example", "a leaf in sunlight"), ("location", "chloroplasts"),
        ("definition", "light energy stored as sugar")])
    entry = plan_outlines(_only(config, "encyclopedia_entry"), pl.DataFrame([concept])).outlines.row(0, named=True)
    assert entry["sections"] == ["Definition", "How it works", "Examples", "Applications"]
    assert entry["prompt"].index("light energy stored") < entry["prompt"].index("chloroplasts") < entry["prompt"].index("a leaf")


def test_only_suitable_seeds_get_a_biography_or_a_timeline(config_dir):
    config = load_config(config_dir)
    concept = _seed("Zero", "concept", [("definition", "the number between -1 and 1"), ("symbol", "0")])
    with pytest.raises(ValueError, match="suits none of the options"):
        plan_outlines(_only(config, "biography"), pl.DataFrame([concept]))
    outlines = plan_outlines(config, pl.DataFrame([concept] * 1)).outlines
    assert outlines["content_type"][0] not in ("biography", "timeline")


def test_the_default_config_meets_the_mix_in_every_partition():
    """Every seed of every shipped domain: each partition covers at least 5 content types and 4 audiences,
    and every content type, audience and style is within 5 points of its configured share."""
    config = load_config()
    for domain in config.domain_names:
        batch = plan_outlines(config, read_seeds(config, domain, "en", None).seeds)
        assert batch.mix["content_type"]["covered"] >= 5 and batch.mix["audience"]["covered"] >= 4, domain
        for column in ("content_type", "audience", "style"):
            assert batch.mix[column]["max_deviation_pp"] <= 5.0, (domain, column, batch.mix[column])
        assert batch.near_duplicate_prompts == []
        assert 0 < batch.prompt_diversity["mean_pairwise_minhash_similarity"] < 0.3
        assert batch.prompt_diversity["distinct_4gram_share"] > 0.3


def test_several_outlines_per_seed_take_different_content_types(config_dir):
    edit_yaml(config_dir / "outlines.yaml", lambda d: d.update(outlines_per_seed=3))
    config = load_config(config_dir)
    seeds = build_seeds(config, "alpha", "en", None)
    outlines = plan_outlines(config, seeds).outlines
    assert outlines.height == 3 * seeds.height and outlines["outline_id"].n_unique() == outlines.height
    per_seed = outlines.group_by("seed_id").agg(pl.col("content_type").n_unique(), pl.col("variant").sort())
    assert per_seed["content_type"].to_list() == [3] * seeds.height
    assert all(v == [0, 1, 2] for v in per_seed["variant"].to_list())


def test_several_outlines_of_a_seed_differ_in_angle(config_dir):
    edit_yaml(config_dir / "outlines.yaml", lambda d: d.update(outlines_per_seed=3))
    config = load_config(config_dir)
    outlines = plan_outlines(config, build_seeds(config, "alpha", "en", None)).outlines
    per_seed = outlines.group_by("seed_id").agg(pl.col("angle").n_unique(), pl.col("prompt"))
    assert per_seed["angle"].to_list() == [3] * per_seed.height
    angles = {"why_it_matters": "why the topic matters", "surprising_detail": "one surprising detail",
              "everyday_link": "everyday life", "in_time_order": "the order things happened", "compare": "Compare it with"}
    for row in outlines.iter_rows(named=True):
        assert angles[row["angle"]] in row["prompt"]


def test_no_prompt_carries_a_raw_fact_line_on_the_default_config():
    """Every seed of every shipped domain: facts reach the model as phrases ("born on 23 June 1912"), never as
    `property: value` lines or ISO dates, while required_facts keep the seed's own values for the filter."""
    config = load_config()
    for domain in config.domain_names:
        outlines = plan_outlines(config, read_seeds(config, domain, "en", None).seeds).outlines
        for row in outlines.iter_rows(named=True):
            assert not re.search(r"\b\d{4}-\d\d-\d\d\b", row["prompt"]), (row["title"], row["prompt"])
            for fact in row["required_facts"]:
                assert not re.search(rf"^\s*-\s*{re.escape(fact['property'])}\s*:", row["prompt"], re.MULTILINE), (row["title"], fact)
                assert fact in outlines.filter(pl.col("outline_id") == row["outline_id"])["required_facts"][0]


@pytest.mark.parametrize(("language", "when"), [
    ("en", "on 23 June 1912"), ("fr", "le 23 juin 1912"), ("es", "el 23 de junio de 1912"), ("de", "am 23. Juni 1912"),
])
def test_dates_are_written_the_way_the_partition_language_writes_them(language, when):
    fact = readable_fact({"property": "born", "value": "1912-06-23"}, language, FactReader({}))
    assert fact["when"] == when
    # the filter reads the date back as the seed's date, so a draft that copies it is checked like one that does not
    [claim] = [c for c in claims.extract(f"Alan Turing: {when}.", language) if c.kind == "date"]
    assert claim.key == (1912, 6, 23)
    assert readable_fact({"property": "population", "value": "2165423"}, language, FactReader({}))["value"] in (
        "2,165,423", "2\u202f165\u202f423", "2.165.423")
    assert readable_fact({"property": "opened", "value": "1914-08"}, "en", FactReader({}))["when"] == "in August 1914"


def test_the_length_asked_for_leaves_room_for_the_answer_to_end(config_dir):
    config = load_config(config_dir)
    for ct in config.outlines.content_types:
        assert target_words(config, ct) <= 0.6 * config.model.max_tokens, ct.id
    assert target_words(config, _only(config, "story_young_children").outlines.content_types[0]) == 180
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(max_tokens=200))
    small = load_config(config_dir)
    outlines = plan_outlines(small, build_seeds(small, "alpha", "en", None)).outlines
    for prompt in outlines["prompt"]:
        [asked] = [int(n) for n in re.findall(r"\b(\d+) words\b", prompt)]
        assert asked == 120  # 0.6 x 200 tokens, whatever the content type wanted


def test_a_how_to_is_about_something_a_reader_can_do(config_dir):
    config = _only(load_config(config_dir), "how_to")
    seeds = pl.DataFrame([_seed(t, k, [("location", "Egypt")], f"seed_{i}") for i, (t, k) in enumerate(
        [("Nile", "place"), ("Sahara", "place"), ("Red Cross", "organisation"), ("Zero", "concept"), ("Mona Lisa", "creative_work")])])
    prompts = plan_outlines(config, seeds).outlines["prompt"].to_list()
    assert not any("How to understand" in p for p in prompts)
    tasks = [re.search(r"“(How to [^”]+)”", p).group(1) for p in prompts]
    assert {t for t in tasks if "Nile" in t or "Sahara" in t} <= {
        "How to plan a visit to Nile", "How to read a map of Nile", "How to plan a visit to Sahara", "How to read a map of Sahara"}
    assert any(t in ("How to explain Zero in your own words", "How to recognise Zero in the world around you") for t in tasks)


def test_stories_ask_for_dialogue_and_a_turn_and_every_prompt_names_openings_to_avoid(config_dir):
    config = load_config(config_dir)
    outlines = plan_outlines(config, build_seeds(config, "alpha", "en", None)).outlines
    for row in outlines.iter_rows(named=True):
        avoided = re.findall(r"“([^”]+)”", row["prompt"].splitlines()[-1])
        assert len(avoided) == 2 and avoided[0] != avoided[1], row["prompt"]
        if row["content_type"].startswith("story"):
            assert "dialogue" in row["prompt"] and re.search(r"surprising|turning point|setback", row["prompt"])
            assert set(avoided) <= {"Once upon a time", "One sunny day", "In a land far away", "Once there was", "Long ago"}


def test_prompts_that_nearly_repeat_are_reported(config_dir):
    config = load_config(config_dir)
    settings = config.outlines
    one_of_each = settings.model_copy(update={
        "content_types": [settings.content_types[0]], "audiences": [settings.audiences[2]], "styles": [settings.styles[0]],
        "angles": [settings.angles[0]]})
    config = dataclasses.replace(config, outlines=one_of_each)
    seeds = build_seeds(config, "alpha", "en", None)
    twin = seeds.filter(pl.col("title") == "Marie Curie").with_columns(pl.lit("seed_twin").alias("seed_id"))
    batch = plan_outlines(config, pl.concat([seeds, twin]))
    [pair] = batch.near_duplicate_prompts
    ids = dict(zip(batch.outlines["outline_id"], batch.outlines["seed_id"]))
    assert {ids[pair["a"]], ids[pair["b"]]} == {"seed_twin", seeds.filter(pl.col("title") == "Marie Curie")["seed_id"][0]}
    assert pair["similarity"] == 1.0 and pair["same_seed"] is False


def test_swapping_only_the_audience_still_counts_as_a_near_duplicate(config_dir):
    """Cosmopedia's lesson: changing the audience word alone leaves two prompts nearly the same."""
    config = load_config(config_dir)
    library = TemplateLibrary(config.root / "templates")
    seeds = build_seeds(config, "alpha", "en", None)

    def prompt(title, audience):
        seed = seeds.filter(pl.col("title") == title).row(0, named=True)
        outline = [{"heading": "Overview", "facts": seed["facts"]}]
        return library.render("blog_post.j2", lang="en", title=title, description=seed["description"],
                              audience=audience, style="plain", outline=outline)

    prompts = [prompt("Marie Curie", "college"), prompt("Marie Curie", "high_school"), prompt("Apollo 11", "college")]
    pairs = near_duplicates(["college", "high_school", "apollo"], signatures(prompts), config.outlines.near_duplicate_similarity)
    assert [(p["a"], p["b"]) for p in pairs] == [("college", "high_school")]


def test_diversity_figures_tell_repetition_from_variety():
    varied = ["The river carries silt to the delta.", "Bees carry pollen between flowers in spring.",
              "A comet's tail always points away from the Sun."]
    assert diversity_figures(varied)["distinct_4gram_share"] == 1.0
    assert diversity_figures(varied)["mean_pairwise_minhash_similarity"] < 0.1
    repeated = diversity_figures([varied[0]] * 3)
    assert repeated["mean_pairwise_minhash_similarity"] == 1.0 and repeated["distinct_4gram_share"] < 0.34


def test_every_template_renders_in_every_language_for_every_audience_and_style(config_dir):
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    config = load_config(config_dir)
    library = TemplateLibrary(config.root / "templates")
    opening = {"en": "Write", "fr": "Écris", "es": "Escribe", "de": "Schreibe"}
    closing = {"en": "in English", "fr": "en français", "es": "en español", "de": "auf Deutsch"}
    for ct in config.outlines.content_types:
        for lang in opening:
            outline = [{"heading": "Early life", "facts": [readable_fact({"property": "born", "value": "1867"}, lang, FactReader({}))]}]
            prompts = set()
            for audience in config.outlines.audiences:
                for style in config.outlines.styles:
                    prompt = library.render(ct.template, lang=lang, language=lang, title="Marie Curie", description="",
                                            topic_type="person", content_type=ct.id, audience=audience.id,
                                            style=style.id, outline=outline)
                    assert prompt.startswith(opening[lang]) and closing[lang] in prompt, (ct.id, lang)
                    born = {"en": "born in 1867", "fr": "naissance en 1867", "es": "nacimiento en 1867", "de": "geboren im Jahr 1867"}
                    assert "Marie Curie" in prompt and f"- {born[lang]}" in prompt
                    prompts.add(prompt)
            assert len(prompts) == len(config.outlines.audiences) * len(config.outlines.styles)


def test_outlines_of_a_french_partition_are_written_in_french(config_dir):
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    config = load_config(config_dir)
    outlines = plan_outlines(_only(config, "biography"), build_seeds(config, "alpha", "fr", None).filter(pl.col("topic_type") == "person")).outlines
    curie = outlines.row(0, named=True)
    assert curie["sections"] == ["Jeunesse et formation", "Travaux et réalisations", "Héritage"]
    assert curie["prompt"].startswith("Écris une biographie de Marie Curie")
    assert "250 mots" in curie["prompt"] and "en français" in curie["prompt"]
    assert "- naissance le 7 novembre 1867" in curie["prompt"]


def test_a_changed_template_changes_only_the_outlines_that_use_it(config_dir):
    config = load_config(config_dir)
    seeds = build_seeds(config, "alpha", "en", None)
    before = plan_outlines(config, seeds).outlines
    used = before["template_id"][0]
    path = config.template_path(used)
    path.write_text(path.read_text().replace('"en": "', '"en": "Keep paragraphs short. ', 1))
    after = plan_outlines(load_config(config_dir), seeds).outlines
    assert before.height == after.height
    for old, new in zip(before.iter_rows(named=True), after.iter_rows(named=True)):
        if old["template_id"] == used:
            assert old["template_version"] != new["template_version"] and old["outline_id"] != new["outline_id"]
            assert "Keep paragraphs short." in new["prompt"]
        else:
            assert old == new


def _answer(prompt: str) -> str:
    """A model that plans well for Marie Curie and answers anything else with prose."""
    if "Marie Curie" in prompt:
        return 'Here is the plan: {"sections": [{"heading": "A girl in Warsaw", "facts": [1, 2]}, ' \
               '{"heading": "Radium", "facts": [4]}, {"heading": "Two Nobel Prizes", "facts": [5, 6, 99]}]}'
    return "I would start with the history and then explain the rest."


def test_model_proposed_outlines_are_checked_against_the_schema(config_dir, monkeypatch):
    edit_yaml(config_dir / "outlines.yaml", lambda d: d["model_outlines"].update(enabled=True, variants=2))
    with FakeLLMServer(behaviour=_answer) as server:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        config = load_config(config_dir)
        seeds = build_seeds(config, "alpha", "en", None)
        batch = plan_outlines(config, seeds)
    outlines = batch.outlines
    assert server.requests == 2 * seeds.height
    assert outlines.height == 3 * seeds.height  # one structural outline and two proposed per seed
    assert batch.proposals["accepted"] == 2 and batch.proposals["fell_back"] == 2 * seeds.height - 2
    proposed = outlines.filter(pl.col("outline_source") == "model").sort("variant")
    assert proposed["variant"].to_list() == [1, 2] and set(proposed["title"]) == {"Marie Curie"}
    curie = proposed.row(0, named=True)
    assert curie["sections"] == ["A girl in Warsaw", "Radium", "Two Nobel Prizes"]
    # Fact 3 (died) was left out by the model and still has to be used: it joins the last section.
    assert [f["property"] for f in curie["required_facts"]] == ["born", "birthplace", "known for", "award", "award", "died"]
    fallback = outlines.filter(pl.col("outline_source") == "structural_fallback")
    assert fallback.height == 2 * seeds.height - 2 and fallback["sections"].list.len().min() >= 1


def test_diversity_shows_in_the_metadata_and_the_plan_reaches_the_release(config_dir, tmp_path, monkeypatch):
    with FakeLLMServer() as server:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        config = load_config(config_dir)
        resource = CosmoResource(config_dir=str(config_dir), seeds_per_partition=None)
        defs = build_definitions(config, resource)
        assets = [defs.get_assets_def(k) for k in ("seeds", "outlines", "drafts", "filtered_articles", "balanced_dataset")]
        key = dg.MultiPartitionKey({"domain": "alpha", "language": "en"})
        (tmp_path / "dh").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dh")) as instance:
            result = dg.materialize(assets, selection=["seeds", "outlines", "drafts", "filtered_articles"],
                                    partition_key=key, instance=instance, resources={"cosmo": resource})
            assert result.success
            metadata = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
            checks = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
            released = defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance)
            assert released.success
    with duckdb.connect(str(config.duckdb_path()), read_only=True) as con:
        rows = con.execute("""
            SELECT b.title, b.topic_type, b.content_type, b.audience, b.style, b.template_id, b.template_version,
                   b.sections, b.seed_source, b.seed_source_id, o.sections
            FROM balanced_dataset b JOIN outlines o ON o.seed_id = b.seed_id""").fetchall()
    assert len(rows) == 4
    for row in rows:
        assert None not in row and row[7] == row[10] and row[8] == "curated_jsonl" and row[9].startswith("tiny-")
    prompts = metadata["outlines"]["prompt_diversity"].value
    assert prompts["texts"] == 4 and 0 < prompts["mean_pairwise_minhash_similarity"] < 1
    assert set(metadata["outlines"]["mix"].value) == {"content_type", "audience", "style", "angle"}
    assert metadata["outlines"]["near_duplicate_prompt_pairs"].value == 0
    drafts = metadata["drafts"]["draft_diversity"].value
    assert drafts["texts"] == 4 and 0 < drafts["distinct_4gram_share"] <= 1
    assert checks["outlines_mix"] == (True, dg.AssetCheckSeverity.WARN)
    assert checks["outlines_contract"][0] and checks["seeds_contract"][0]
