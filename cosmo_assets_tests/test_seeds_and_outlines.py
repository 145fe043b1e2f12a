"""Seeds from the curated knowledge base and outlines from templates: stable, complete, and strict about bad rows."""

from __future__ import annotations

import json

import pytest

from cosmo_assets.config import load_config
from cosmo_assets.stages.outlines import build_outlines
from cosmo_assets.stages.seeds import SeedFileError, build_seeds, read_curated_jsonl


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
    ("line", "expected"),
    [
        ('{"id": "x", "title": "X", "topic_type": "concept"', r"bad\.jsonl:2: not valid JSON"),
        ('{"id": "x", "topic_type": "concept"}', r"bad\.jsonl:2: field 'title': Field required"),
        ('{"id": "x", "title": "X", "topic_type": "planet"}', r"bad\.jsonl:2: .*topic_type 'planet' is not one of"),
        ('{"id": "x", "title": "X", "topic_type": "concept", "facts": [{"property": "p"}]}',
         r"bad\.jsonl:2: field 'facts\.0\.value': Field required"),
        ('{"id": "tiny-1", "title": "X", "topic_type": "concept"}', r"bad\.jsonl:2: field 'id': 'tiny-1' already used on line 1"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, line, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "tiny-1", "title": "Fine", "topic_type": "concept"}) + "\n" + line + "\n")
    with pytest.raises(SeedFileError, match=expected):
        read_curated_jsonl(path)


def test_outlines_are_deterministic_and_carry_their_plan(config_dir):
    config = load_config(config_dir)
    seeds = build_seeds(config, "alpha", "en", None)
    first, second = build_outlines(config, seeds), build_outlines(config, seeds)
    assert first.equals(second)
    assert first.height == seeds.height and first["outline_id"].n_unique() == first.height
    curie = first.filter(first["title"] == "Marie Curie").row(0, named=True)
    assert curie["sections"] == config.outlines.sections["person"]
    assert "1867-11-07" in curie["prompt"] and "Warsaw" in curie["prompt"]
    assert "Early life" in curie["prompt"]
    audience = next(a for a in config.outlines.audiences if a.id == curie["audience"])
    assert audience.description in curie["prompt"]


def test_a_changed_template_changes_only_the_outlines_that_use_it(config_dir):
    config = load_config(config_dir)
    seeds = build_seeds(config, "alpha", "en", None)
    before = build_outlines(config, seeds)
    used = before["template_id"][0]
    path = config.template_path(used)
    path.write_text(path.read_text().replace("Write at least 250 words.", "Write at least 250 words. Keep paragraphs short."))
    after = build_outlines(load_config(config_dir), seeds)
    for old, new in zip(before.iter_rows(named=True), after.iter_rows(named=True)):
        if old["template_id"] == used:
            assert (old["outline_id"], old["template_version"]) != (new["outline_id"], new["template_version"])
            assert "Keep paragraphs short." in new["prompt"]
        else:
            assert old == new
