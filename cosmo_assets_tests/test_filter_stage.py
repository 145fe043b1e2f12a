"""Each filter score and decision, made to fire and not to fire on small frames."""

from __future__ import annotations

import polars as pl
import pytest

from cosmo_assets.config import FilterSettings
from cosmo_assets.filters import quality
from cosmo_assets.filters.language import identify_language
from cosmo_assets.filters.text import tokenise
from cosmo_assets.stages import filtering
from cosmo_assets_tests.conftest import GOOD, OTHER, drafts

FRENCH = (
    "Le Nil est un long fleuve d'Afrique. Il coule vers le nord à travers plusieurs pays avant d'atteindre la "
    "mer Méditerranée. Les agriculteurs le long de ses rives dépendent de ses crues depuis des milliers d'années."
)


def score(expr: pl.Expr, *texts: str | None) -> list:
    return tokenise(pl.DataFrame({"text": list(texts)}, schema={"text": pl.String})).select(expr).to_series().to_list()


def test_word_count_and_mean_word_length():
    assert score(quality.word_count(), "one two three", "Don't split hyphen-words", "", None) == [3, 3, 0, 0]
    assert score(quality.mean_word_length(), "one two three")[0] == pytest.approx(11 / 3)


def test_symbol_word_ratio_fires_on_hashes_and_ellipses():
    low, high = score(quality.symbol_word_ratio(), GOOD, "#tag #news #river and so on...")
    assert low == 0 and high == pytest.approx(4 / 6)  # 3 hashes and 1 ellipsis over 6 words


def test_punctuated_line_share_counts_lines_ending_like_sentences():
    got = score(quality.punctuated_line_share(), "A sentence.\nAnother one!", "Menu\nHome\nAbout us\nEnds here.")
    assert got == [1.0, 0.25]


def test_duplicate_lines_fire_only_on_repeats():
    assert score(quality.duplicate_line_share(), "a line\nanother line\nthird", "same\nsame\nSame\nother") == [0, 0.5]


def test_top_ngram_share_is_a_share_of_characters_of_repeated_ngrams():
    unique, looping, once = score(quality.top_ngram_share(2), GOOD, " ".join(["river flows"] * 10), "one two three")
    assert unique < 0.05
    assert looping > 0.9  # "river flows" and "flows river" take every character
    assert once == 0  # an n-gram seen once is no repetition
    # "a bc" twice (3 characters each time) out of 3 + 3 + 5 word characters
    assert score(quality.top_ngram_share(2), "a bc a bc defgh")[0] == pytest.approx(6 / 11)


@pytest.mark.parametrize("n", quality.DUPLICATE_NGRAM_SIZES)
def test_duplicate_ngram_share_covers_words_inside_repeated_ngrams(n):
    words = [f"w{i}" for i in range(n)]
    text = " ".join(words + words + ["end"])
    clean, copied = score(quality.duplicate_ngram_share(n), GOOD, text)
    assert clean == 0
    # the second copy's n words, out of 2n + 1 words (all 2 characters except 'end' of 3, w10+ of 3)
    chars = [len(w) for w in words]
    assert copied == pytest.approx(sum(chars) / (2 * sum(chars) + 3))
    # one word short of an n-gram does not repeat
    assert score(quality.duplicate_ngram_share(n), " ".join(words[:-1] + ["x"] + words[:-1]))[0] == 0


def test_stop_words_and_non_alphabetic_share():
    assert score(quality.stop_word_count(["the", "of"]), GOOD, "Nile river Africa") == [5, 0]
    low, high = score(quality.non_alphabetic_word_share(), GOOD, "12 34 ## 5.6 river")
    assert low == 0 and high == pytest.approx(4 / 5)


def test_language_identification_with_confidence_matches_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    texts = pl.Series([GOOD, FRENCH, None, "Der Rhein fließt durch Deutschland und die Schweiz.", "短い日本語の文章です。"])
    got = identify_language(texts, prefix_chars=1000)
    assert got["language_detected"].to_list() == ["en", "fr", None, "de", "ja"]
    one_at_a_time = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    for text, confidence in zip(texts, got["language_confidence"]):
        expected = one_at_a_time.classify(text)[1] if text else 0.0
        assert confidence == pytest.approx(expected, abs=1e-5)


SETTINGS = FilterSettings(min_words=20, max_words=200, min_section_coverage=0.5, min_fact_coverage=0.5)


def outcome(frame: pl.DataFrame, settings: FilterSettings = SETTINGS, outlines=None, benchmarks=None, judge=None):
    return filtering.filter_drafts(frame, settings, "en", outlines, benchmarks, judge)


def reasons_for(frame: pl.DataFrame, settings: FilterSettings = SETTINGS, **kwargs) -> dict[str, list[str]]:
    result = outcome(frame, settings, **kwargs)
    out = {d: [] for d in result.kept["draft_id"]}
    out.update(dict(zip(result.rejected["draft_id"], result.rejected["reject_reasons"].to_list())))
    return out


def test_a_good_draft_is_kept_with_a_score_in_range():
    result = outcome(drafts(GOOD))
    assert result.kept.height == 1 and result.rejected.height == 0
    assert 0.5 < result.kept["quality_score"][0] <= 1.0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to keep.", "too_short"),
        (" ".join([GOOD, OTHER] * 3), "too_long"),
        (GOOD + " #a #b #c #d #e #f", "too_many_symbols"),
        ("\n".join(GOOD.replace(".", "").split(" ")[:25]), "unpunctuated_lines"),
        ("\n".join(["The same line again and again here."] * 8), "repeated_lines"),
        (" ".join(["the river flows"] * 20), "repetitive_phrases"),
        (OTHER + " " + GOOD + " " + GOOD[:150], "repeated_passages"),
        ("Rivers carry water north. Farmers plant crops near banks. Floods leave rich soil behind. " * 3, "few_stop_words"),
        (GOOD + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", "non_alphabetic"),
        (FRENCH, "wrong_language"),
    ],
)
def test_each_quality_reason_fires(text, reason):
    assert reason in reasons_for(drafts(text))["d0"]


def test_odd_word_length_fires_on_very_long_or_very_short_words():
    long_words = " ".join(["Incomprehensibilities notwithstanding extraordinarily."] * 10)
    short_words = " ".join(["a b c d e f g h i j."] * 5)
    got = reasons_for(drafts(long_words, short_words, GOOD))
    assert "odd_word_length" in got["d0"] and "odd_word_length" in got["d1"] and got["d2"] == []


def test_no_quality_reason_fires_on_good_prose():
    assert reasons_for(drafts(GOOD, OTHER)) == {"d0": [], "d1": []}


def test_failed_generation_is_rejected_with_every_reason():
    got = reasons_for(drafts(None, status="failed"))["d0"]
    assert got[:2] == ["generation_failed", "too_short"]


def test_thresholds_come_from_config():
    frame = drafts(GOOD)
    assert reasons_for(frame, FilterSettings(min_words=20, max_words=200))["d0"] == []
    assert reasons_for(frame, FilterSettings(min_words=100, max_words=200))["d0"] == ["too_short"]
    strict = FilterSettings(min_words=20, max_words=200, max_top_ngram_share={2: 0.01, 3: 0.18, 4: 0.16})
    assert reasons_for(drafts(GOOD + " The river, the river."), strict)["d0"] == ["repetitive_phrases"]


def test_stop_word_rule_is_skipped_for_a_language_without_a_list():
    settings = FilterSettings(min_words=5, max_words=200, stop_words={})
    frame = drafts("Nile river Africa north countries Mediterranean Sea farmers banks floods.")
    assert "few_stop_words" not in reasons_for(frame, settings)["d0"]


def test_every_draft_lands_in_exactly_one_table():
    frame = drafts(GOOD, "short", FRENCH, OTHER, GOOD)
    result = outcome(frame)
    assert sorted(result.kept["draft_id"].to_list() + result.rejected["draft_id"].to_list()) == [
        "d0", "d1", "d2", "d3", "d4"
    ]
    assert set(result.kept["draft_id"]).isdisjoint(result.rejected["draft_id"])


def test_a_rerun_gives_the_same_decisions():
    frame = drafts(GOOD, OTHER, GOOD, "short", FRENCH, OTHER.replace("years", "decades"))
    first, second = outcome(frame), outcome(frame.reverse())
    assert first.kept.sort("draft_id").equals(second.kept.sort("draft_id"))
    assert first.rejected.sort("draft_id").equals(second.rejected.sort("draft_id"))
    assert first.index.sort("draft_id", "band").equals(second.index.sort("draft_id", "band"))


def test_reason_counts_follow_the_rejected_drafts():
    result = outcome(drafts(GOOD, "short", FRENCH, GOOD))
    assert filtering.reason_counts(result.rejected) == {
        "too_short": 1, "unpunctuated_lines": 1, "few_stop_words": 2, "wrong_language": 2, "exact_duplicate": 1,
    }


def _reference_key(word: str) -> int:
    """FNV-1a over UTF-8 bytes, murmur's fmix64, length in the low 16 bits: the documented word key."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & mask
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h ^= h >> 33
        h = (h * multiplier) & mask
    h ^= h >> 33
    return (h & ~0xFFFF & mask) | min(len(word), 0xFFFF)


@pytest.mark.parametrize(
    "text",
    ["Don't split hyphen-words, or l’été's ÉCOLE café -- 3.14 foo_bar 'quoted' end-", "ДОМ и дом\tNaïve naïve", ""],
)
def test_word_keys_are_the_regex_words_with_a_stable_hash(text):
    import re

    from cosmo_assets.filters.text import WORD_PATTERN

    expected = [_reference_key(w) for w in re.findall(WORD_PATTERN, text.lower())]
    assert tokenise(pl.DataFrame({"text": [text]}))["word_keys"].to_list() == [expected]


def test_the_one_pass_repetition_kernel_equals_each_score_alone():
    texts = [GOOD, " ".join(["the river flows"] * 20), OTHER + " " + GOOD + " " + GOOD[:150], "a b", "", None,
             "a b c d e f g a b c d e f g h"]
    tokenised = tokenise(pl.DataFrame({"text": texts}, schema={"text": pl.String}))
    together = tokenised.select(quality.ngram_repetition()).unnest("ngram_repetition")
    for n in quality.TOP_NGRAM_SIZES:
        assert together[f"top_{n}gram_share"].to_list() == tokenised.select(quality.top_ngram_share(n)).to_series().to_list()
    for n in quality.DUPLICATE_NGRAM_SIZES:
        alone = tokenised.select(quality.duplicate_ngram_share(n)).to_series().to_list()
        assert together[f"duplicate_{n}gram_share"].to_list() == alone
