"""Each filter score and decision, made to fire and not to fire on small frames."""

from __future__ import annotations

import polars as pl
import pytest

from cosmo_assets.config import FilterSettings
from cosmo_assets.stages import filtering

GOOD = (
    "The Nile is a long river in Africa. It flows north through several countries before it reaches the "
    "Mediterranean Sea. Farmers along its banks have relied on its yearly floods for thousands of years, "
    "because the water leaves rich soil behind. Today dams control much of that flow."
)
FRENCH = (
    "Le Nil est un long fleuve d'Afrique. Il coule vers le nord à travers plusieurs pays avant d'atteindre la "
    "mer Méditerranée. Les agriculteurs le long de ses rives dépendent de ses crues depuis des milliers d'années."
)


def drafts(*texts: str | None, status: str = "ok") -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {
            "draft_id": [f"d{i}" for i in range(n)], "outline_id": ["o"] * n, "seed_id": ["s"] * n,
            "domain": ["geo"] * n, "language": ["en"] * n, "status": [status] * n, "text": list(texts),
        },
        schema_overrides={"text": pl.String},
    )


def scores(*texts: str | None) -> pl.DataFrame:
    return filtering.score_drafts(drafts(*texts))


def test_word_count_and_mean_word_length():
    got = scores("one two three", "Don't split hyphen-words", "")
    assert got["word_count"].to_list() == [3, 3, 0]
    assert got["mean_word_length"][0] == pytest.approx(11 / 3)


def test_duplicate_lines_fire_only_on_repeats():
    got = scores("a line\nanother line\nthird", "same\nsame\nsame\nother")
    assert got["duplicate_line_share"][0] == 0
    assert got["duplicate_line_share"][1] == pytest.approx(0.5)


def test_top_trigram_share_fires_on_a_repeated_phrase():
    got = scores(GOOD, " ".join(["the river flows"] * 20))
    assert got["top_trigram_share"][0] < 0.05
    assert got["top_trigram_share"][1] > 0.3


def test_duplicate_5grams_fire_on_copied_passages():
    got = scores(GOOD, GOOD + " " + GOOD)
    assert got["duplicate_5gram_share"][0] == 0
    assert got["duplicate_5gram_share"][1] > 0.45


def test_language_identification_with_confidence():
    got = scores(GOOD, FRENCH, None)
    assert got["language_detected"].to_list() == ["en", "fr", None]
    assert got["language_confidence"][0] > 0.9 and got["language_confidence"][2] == 0.0


SETTINGS = FilterSettings(min_words=20, max_words=200)


def reasons_for(frame: pl.DataFrame, settings: FilterSettings = SETTINGS) -> dict[str, list[str]]:
    kept, rejected = filtering.filter_drafts(frame, settings, "en")
    out = {d: [] for d in kept["draft_id"]}
    out.update(dict(zip(rejected["draft_id"], rejected["reject_reasons"].to_list())))
    return out


def test_a_good_draft_is_kept_with_a_score_in_range():
    kept, rejected = filtering.filter_drafts(drafts(GOOD), SETTINGS, "en")
    assert kept.height == 1 and rejected.height == 0
    assert 0.5 < kept["quality_score"][0] <= 1.0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to keep.", "too_short"),
        (" ".join([GOOD] * 5), "too_long"),
        ("\n".join(["The same line again and again here."] * 8), "repeated_lines"),
        (" ".join(["the river flows"] * 20), "repetitive_phrases"),
        (GOOD + " " + GOOD, "repeated_passages"),
        (FRENCH, "wrong_language"),
    ],
)
def test_each_reason_fires(text, reason):
    assert reason in reasons_for(drafts(text))["d0"]


def test_failed_generation_is_rejected_with_every_reason():
    got = reasons_for(drafts(None, status="failed"))["d0"]
    assert got[:2] == ["generation_failed", "too_short"]


def test_every_draft_lands_in_exactly_one_table():
    frame = drafts(GOOD, "short", FRENCH, GOOD.replace("Nile", "Amazon"))
    kept, rejected = filtering.filter_drafts(frame, SETTINGS, "en")
    assert sorted(kept["draft_id"].to_list() + rejected["draft_id"].to_list()) == ["d0", "d1", "d2", "d3"]
    assert set(kept["draft_id"]).isdisjoint(rejected["draft_id"])


def test_thresholds_come_from_config():
    frame = drafts(GOOD)
    assert reasons_for(frame, FilterSettings(min_words=20, max_words=200))["d0"] == []
    assert reasons_for(frame, FilterSettings(min_words=100, max_words=200))["d0"] == ["too_short"]
