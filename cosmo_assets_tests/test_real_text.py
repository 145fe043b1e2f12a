"""Real-text corpora for hybrid mixes: JSONL or Parquet, every row checked, errors name file and row."""

from __future__ import annotations

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
