"""Real-text corpora for hybrid mixes: JSONL or Parquet, every row checked, errors name file and row."""

from __future__ import annotations

import json

import polars as pl
import pytest

from cosmo_assets.config import RealTextCorpus, load_config
from cosmo_assets.stages.real_text import RealTextError, load_real_text, read_corpus

CORPUS = RealTextCorpus(name="notes", path="x", language="en", domain="alpha", license="CC0-1.0")


def test_the_configured_corpus_is_read_with_its_metadata(config_dir):
    frame = load_real_text(load_config(config_dir), "en")
    assert frame.height == 6 and frame["id"].n_unique() == 6
    assert set(frame["domain"]) == {"alpha", "beta"} and set(frame["corpus"]) == {"cosmo_sample"}
    assert frame["content_type"].unique().to_list() == ["real_text"] and frame["token_count"].min() > 50
    assert load_real_text(load_config(config_dir), "fr").height == 0


def test_parquet_rows_take_the_corpus_defaults(tmp_path):
    path = tmp_path / "c.parquet"
    pl.DataFrame({"text": ["One short text about rivers.", "Another about hills."], "title": ["Rivers", None]}).write_parquet(path)
    frame = read_corpus(path, CORPUS, ["alpha"])
    assert frame["title"].to_list() == ["Rivers", "Another about hills."]
    assert set(frame["domain"]) == {"alpha"} and set(frame["language"]) == {"en"}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('{"text": "fine"}\n{"text": "broken"', r"c\.jsonl:2: not valid JSON"),
        ('{"text": "fine"}\n{"title": "no text"}', r"c\.jsonl:2: field 'text': expected non-empty text"),
        ('{"text": "fine", "domain": "zeta"}', r"c\.jsonl:1: field 'domain': expected one of \['alpha'\], got 'zeta'"),
        ('{"text": "a", "id": "1"}\n{"text": "b", "id": "1"}', r"c\.jsonl:2: field 'id': '1' already used on row 1"),
    ],
)
def test_a_bad_row_names_file_row_and_field(tmp_path, lines, expected):
    path = tmp_path / "c.jsonl"
    path.write_text(lines + "\n")
    with pytest.raises(RealTextError, match=expected):
        read_corpus(path, CORPUS, ["alpha"])


def test_lengths_are_counted_in_the_release_token_unit(tmp_path):
    from cosmo_assets.llm.litellm_setup import load_litellm
    from cosmo_assets.llm.tokens import token_unit

    text = "One short text about rivers and the hills around them."
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": text}) + "\n")
    embedded = token_unit("embedded/smollm2-135m-instruct")
    assert not embedded.exact and "words x 1.33" in embedded.name  # litellm has no tokenizer for it
    assert read_corpus(path, CORPUS, ["alpha"], embedded)["token_count"].to_list() == [14]  # ceil(10 words x 4/3)
    openai = token_unit("openai/gpt-4o-mini")
    assert openai.exact and "gpt-4o-mini tokenizer" in openai.name
    counted = load_litellm().token_counter(model="openai/gpt-4o-mini", text=text)
    assert read_corpus(path, CORPUS, ["alpha"], openai)["token_count"].to_list() == [counted] != [14]
