"""Stage 4, filtered articles: score every draft, keep the good ones, and say why the rest were dropped.

Scores are polars expressions over a `text` column, so each can be tried on a three-row frame.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from cosmo_assets.config import FilterSettings
from cosmo_assets.storage import frame_schema

_words = pl.col("text").fill_null("").str.extract_all(r"[^\W_]+(?:['’-][^\W_]+)*")


def word_count() -> pl.Expr:
    return _words.list.len().cast(pl.Int32).alias("word_count")


def mean_word_length() -> pl.Expr:
    return _words.list.eval(pl.element().str.len_chars()).list.mean().fill_null(0.0).alias("mean_word_length")


def duplicate_line_share() -> pl.Expr:
    """Share of non-empty lines that repeat an earlier line."""
    lines = (
        pl.col("text").fill_null("").str.split("\n")
        .list.eval(pl.element().str.strip_chars().str.to_lowercase())
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    return (1 - lines.list.n_unique() / lines.list.len()).fill_nan(0.0).fill_null(0.0).alias("duplicate_line_share")


def _ngrams(n: int) -> pl.Expr:
    lowered = _words.list.eval(pl.element().str.to_lowercase())
    return lowered.list.eval(
        pl.concat_str([pl.element().shift(-i) for i in range(n)], separator=" ").drop_nulls()
    )


def top_trigram_share() -> pl.Expr:
    """Share of word trigrams taken by the most frequent one: high when a text circles on one phrase."""
    grams = _ngrams(3)
    top = grams.list.eval(pl.element().unique_counts().max()).list.first()
    return (top / grams.list.len()).fill_nan(0.0).fill_null(0.0).alias("top_trigram_share")


def duplicate_5gram_share() -> pl.Expr:
    """Share of word 5-grams that repeat an earlier one: high when passages are copied within a text."""
    grams = _ngrams(5)
    return (1 - grams.list.n_unique() / grams.list.len()).fill_nan(0.0).fill_null(0.0).alias("duplicate_5gram_share")


@cache
def _language_identifier():
    # py3langid ships its model inside the wheel: no download, works offline.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify_language(texts: pl.Series) -> pl.DataFrame:
    identifier = _language_identifier()
    detected, confidence = [], []
    for text in texts.fill_null(""):
        if text.strip():
            lang, prob = identifier.classify(text)
            detected.append(lang)
            confidence.append(float(prob))
        else:
            detected.append(None)
            confidence.append(0.0)
    return pl.DataFrame(
        {"language_detected": detected, "language_confidence": confidence},
        schema={"language_detected": pl.String, "language_confidence": pl.Float64},
    )


def score_drafts(drafts: pl.DataFrame) -> pl.DataFrame:
    """Add every score column to a frame of drafts (needs `text`)."""
    scored = drafts.with_columns(
        word_count(), mean_word_length(), duplicate_line_share(), top_trigram_share(), duplicate_5gram_share()
    )
    return scored.hstack(identify_language(drafts["text"]))


def reject_reasons(settings: FilterSettings, language: str) -> pl.Expr:
    """Every reason that fires for a row, as a list; an empty list keeps the draft."""
    rules = [
        (pl.col("status") != "ok", "generation_failed"),
        (pl.col("word_count") < settings.min_words, "too_short"),
        (pl.col("word_count") > settings.max_words, "too_long"),
        (pl.col("duplicate_line_share") > settings.max_duplicate_line_share, "repeated_lines"),
        (pl.col("top_trigram_share") > settings.max_top_trigram_share, "repetitive_phrases"),
        (pl.col("duplicate_5gram_share") > settings.max_duplicate_5gram_share, "repeated_passages"),
        (
            (pl.col("language_detected") != language).fill_null(True)
            | (pl.col("language_confidence") < settings.min_language_confidence),
            "wrong_language",
        ),
    ]
    return (
        pl.concat_list([pl.when(cond).then(pl.lit(reason)).otherwise(pl.lit(None, pl.String)) for cond, reason in rules])
        .list.drop_nulls()
        .alias("reject_reasons")
    )


def quality_score(settings: FilterSettings) -> pl.Expr:
    """One number in [0, 1]: length adequacy, freedom from repetition and language confidence, averaged."""
    length = (pl.col("word_count") / (2 * max(settings.min_words, 1))).clip(0.0, 1.0)
    parts = [
        length,
        1 - pl.col("duplicate_line_share"),
        1 - pl.col("duplicate_5gram_share"),
        (1 - pl.col("top_trigram_share") * 4).clip(0.0, 1.0),
        pl.col("language_confidence"),
    ]
    return (pl.sum_horizontal(parts) / len(parts)).clip(0.0, 1.0).alias("quality_score")


def filter_drafts(drafts: pl.DataFrame, settings: FilterSettings, language: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split drafts into (kept articles, rejected drafts with their reasons). Every draft lands in one."""
    decided = score_drafts(drafts).with_columns(quality_score(settings), reject_reasons(settings, language))
    keep = decided["reject_reasons"].list.len() == 0
    kept_cols = list(frame_schema("filtered_articles"))
    rejected_cols = list(frame_schema("rejected_drafts"))
    kept = decided.filter(keep).with_columns(near_dup_of=pl.lit(None, pl.String)).select(kept_cols)
    rejected = decided.filter(~keep).with_columns(near_dup_of=pl.lit(None, pl.String)).select(rejected_cols)
    return kept.cast(frame_schema("filtered_articles")), rejected.cast(frame_schema("rejected_drafts"))


