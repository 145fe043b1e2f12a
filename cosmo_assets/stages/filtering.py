"""Stage 4, filtered articles: score every draft, keep the good ones, and say why the rest were dropped.

The steps, each a plain module under cosmo_assets/filters/: Gopher-style quality scores (quality.py),
language identification (language.py), the article against its outline and seed facts (alignment.py),
an optional model judge (judge.py), benchmark decontamination (decontamination.py), and exact and near
duplicates within the partition (dedup.py). Every draft ends in `kept` or `rejected` with every reason
that fired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from cosmo_assets.config import CosmoConfig, FilterSettings
from cosmo_assets.filters import alignment, decontamination, dedup, quality
from cosmo_assets.filters.language import identify_language
from cosmo_assets.filters.text import tokenise
from cosmo_assets.storage import Storage, frame_schema

# A judge sees the drafts that pass everything else; it returns one row of scores per draft given.
Judge = Callable[[pl.DataFrame], pl.DataFrame]


def score_drafts(
    drafts: pl.DataFrame,
    settings: FilterSettings | None = None,
    language: str = "en",
    outlines: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every score column for a frame of drafts (needs `text`; `outline_id` to align with `outlines`).

    The tokenised columns (words, lines, word_keys) are kept for the later steps.
    """
    settings = settings or FilterSettings()
    tokenised = tokenise(drafts)
    scored = quality.quality_scores(tokenised, settings.stop_words.get(language))
    scored = scored.hstack(identify_language(drafts["text"], settings.language_id_prefix_chars))
    if "outline_id" in drafts.columns:
        scored = scored.hstack(alignment.align(drafts, outlines, settings.shapes))
    else:
        scored = scored.hstack(pl.DataFrame(
            {c: [None] * drafts.height for c in alignment.ALIGNMENT_SCHEMA}, schema=alignment.ALIGNMENT_SCHEMA
        ).with_columns(contradicted_facts=pl.lit([], pl.List(pl.String))))
    return scored


def _repetitive_phrases(settings: FilterSettings, language: str) -> pl.Expr:
    return pl.any_horizontal(pl.col(f"top_{n}gram_share") > v for n, v in settings.max_top_ngram_share.items())


def _repeated_passages(settings: FilterSettings, language: str) -> pl.Expr:
    return pl.any_horizontal(pl.col(f"duplicate_{n}gram_share") > v for n, v in settings.max_duplicate_ngram_share.items())


def _judged_poor(settings: FilterSettings, language: str) -> pl.Expr:
    judge = settings.judge
    return (
        (pl.col("judge_clarity") < judge.min_clarity)
        | (pl.col("judge_accuracy") < judge.min_accuracy)
        | (pl.col("judge_educational_value") < judge.min_educational_value)
    )


Rule = Callable[[FilterSettings, str], pl.Expr]

# Each reject reason and when it fires (settings, partition language -> a boolean per row), in the order
# reasons are listed on a rejected draft. The one place reason names are written; a new rule is one entry.
RULES: tuple[tuple[str, Rule], ...] = (
    ("generation_failed", lambda s, lang: pl.col("status") != "ok"),
    ("too_short", lambda s, lang: pl.col("word_count") < s.min_words),
    ("too_long", lambda s, lang: pl.col("word_count") > s.max_words),
    ("odd_word_length", lambda s, lang: (pl.col("word_count") > 0)
     & ~pl.col("mean_word_length").is_between(s.min_mean_word_length, s.max_mean_word_length)),
    ("too_many_symbols", lambda s, lang: pl.col("symbol_word_ratio") > s.max_symbol_word_ratio),
    ("unpunctuated_lines", lambda s, lang: pl.col("punctuated_line_share") < s.min_punctuated_line_share),
    ("repeated_lines", lambda s, lang: pl.col("duplicate_line_share") > s.max_duplicate_line_share),
    ("repetitive_phrases", _repetitive_phrases),
    ("repeated_passages", _repeated_passages),
    # Null when the language lists no stop words: the rule cannot be judged, so it does not fire.
    ("few_stop_words", lambda s, lang: pl.col("stop_word_count") < s.min_stop_words),
    ("non_alphabetic", lambda s, lang: pl.col("non_alphabetic_word_share") > s.max_non_alphabetic_word_share),
    ("wrong_language", lambda s, lang: (pl.col("language_detected") != lang).fill_null(True)
     | (pl.col("language_confidence") < s.min_language_confidence)),
    ("sections_missing", lambda s, lang: pl.col("section_coverage") < s.min_section_coverage),
    ("shape_mismatch", lambda s, lang: pl.col("shape_fits").not_()),
    ("facts_missing", lambda s, lang: pl.col("fact_coverage") < s.min_fact_coverage),
    ("contradicts_facts", lambda s, lang: pl.col("contradicted_facts").list.len() > s.max_contradicted_facts),
    ("judged_poor", _judged_poor),
    ("benchmark_contamination", lambda s, lang: pl.col("benchmark_match").is_not_null()),
)
# Set after the rules, by deduplication among the drafts that pass them.
EXACT_DUPLICATE, NEAR_DUPLICATE = "exact_duplicate", "near_duplicate"
REASONS = (*(reason for reason, _ in RULES), EXACT_DUPLICATE, NEAR_DUPLICATE)


def reject_reasons(settings: FilterSettings, language: str) -> pl.Expr:
    """Every reason (besides duplicates) that fires for a row, as a list; an empty list passes."""
    return (
        pl.concat_list([
            pl.when(rule(settings, language).fill_null(False)).then(pl.lit(reason)).otherwise(pl.lit(None, pl.String))
            for reason, rule in RULES
        ])
        .list.drop_nulls()
        .alias("reject_reasons")
    )


def quality_score(settings: FilterSettings) -> pl.Expr:
    """One number in [0, 1]: length adequacy, freedom from repetition, language confidence, and, where an
    outline exists, section and fact coverage, averaged."""
    length = (pl.col("word_count") / (2 * max(settings.min_words, 1))).clip(0.0, 1.0)
    parts = [
        length,
        1 - pl.col("duplicate_line_share"),
        1 - pl.col("duplicate_5gram_share"),
        (1 - pl.col("top_2gram_share") * 2).clip(0.0, 1.0),
        pl.col("language_confidence"),
        pl.col("section_coverage"),
        pl.col("fact_coverage"),
    ]
    return pl.mean_horizontal(parts).fill_null(0.0).clip(0.0, 1.0).alias("quality_score")


@dataclass
class FilterOutcome:
    kept: pl.DataFrame
    rejected: pl.DataFrame
    index: pl.DataFrame  # minhash_index rows of the kept articles
    seconds: dict[str, float] = field(default_factory=dict)


def filter_drafts(
    drafts: pl.DataFrame,
    settings: FilterSettings,
    language: str,
    outlines: pl.DataFrame | None = None,
    benchmarks: decontamination.BenchmarkIndex | None = None,
    judge: Judge | None = None,
) -> FilterOutcome:
    """Split drafts into kept articles and rejected drafts with every reason. Every draft lands in one."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    scored = score_drafts(drafts, settings, language, outlines)
    seconds["scores"] = time.perf_counter() - started

    started = time.perf_counter()
    scored = scored.hstack(decontamination.match(scored, benchmarks, settings.decontamination.min_overlap))
    seconds["decontamination"] = time.perf_counter() - started

    judged = pl.DataFrame({c: [None] * scored.height for c in ("judge_clarity", "judge_accuracy",
                                                                 "judge_educational_value")},
                          schema={c: pl.Int32 for c in ("judge_clarity", "judge_accuracy", "judge_educational_value")})
    scored = scored.hstack(judged).with_columns(quality_score(settings), reject_reasons(settings, language))
    if judge is not None and settings.judge.enabled:
        started = time.perf_counter()
        passing = np.flatnonzero((scored["reject_reasons"].list.len() == 0).to_numpy())
        if passing.size:
            scores = judge(scored[passing.tolist()])
            for column in scores.columns:
                scored = scored.with_columns(scored[column].scatter(passing, scores[column]))
            scored = scored.with_columns(reject_reasons(settings, language))
        seconds["judge"] = time.perf_counter() - started

    # Duplicates: the best article of each group stays (quality, then id); only drafts that pass every
    # other rule may stay, so near_dup_of always names a kept article.
    started = time.perf_counter()
    eligible = (scored["reject_reasons"].list.len() == 0).to_numpy()
    rank = np.lexsort((scored["draft_id"].to_numpy(), -scored["quality_score"].to_numpy()))
    fingerprints, found = dedup.find_duplicates(scored, settings.dedup, rank, eligible)
    of = found.of
    ids = scored["draft_id"]
    duplicate_reason = np.where(of < 0, None, np.where(found.exact, EXACT_DUPLICATE, NEAR_DUPLICATE))
    decided = scored.with_columns(
        reject_reasons=pl.concat_list(
            "reject_reasons", pl.Series(duplicate_reason.tolist(), dtype=pl.String)
        ).list.drop_nulls(),
        near_dup_of=pl.Series([ids[int(j)] if j >= 0 else None for j in of], dtype=pl.String),
        near_dup_similarity=pl.Series(np.where(of >= 0, found.similarity, np.nan)).fill_nan(None),
    )
    seconds["dedup"] = time.perf_counter() - started

    keep = decided["reject_reasons"].list.len() == 0
    kept = decided.filter(keep).select(list(frame_schema("filtered_articles")))
    rejected = decided.filter(~keep).select(list(frame_schema("rejected_drafts")))
    index = dedup.index_rows(kept["draft_id"].to_list(), fingerprints, np.flatnonzero(keep.to_numpy()))
    return FilterOutcome(
        kept.cast(frame_schema("filtered_articles")), rejected.cast(frame_schema("rejected_drafts")), index, seconds
    )


def reason_counts(rejected: pl.DataFrame) -> dict[str, int]:
    """How many rejected drafts each reason fired for, in REASONS order."""
    if rejected.height == 0:
        return {}
    counts = dict(rejected["reject_reasons"].explode(empty_as_null=False).drop_nulls().value_counts().iter_rows())
    return {r: int(counts[r]) for r in REASONS if r in counts}


def index_frame(index: pl.DataFrame, settings: FilterSettings, domain: str, language: str) -> pl.DataFrame:
    """The rows to store in `minhash_index` for one partition."""
    return index.with_columns(
        domain=pl.lit(domain), language=pl.lit(language), params=pl.lit(dedup.index_params(settings.dedup))
    ).select(list(frame_schema("minhash_index"))).cast(frame_schema("minhash_index"))


def release_duplicates(storage: Storage, settings: FilterSettings, language: str) -> pl.DataFrame:
    """Articles of `language` to leave out of the release because another domain's article says the same.

    Reads the kept articles, their stored band keys and the current release; an article already
    released stays over a newcomer (see dedup.cross_domain_duplicates).
    """
    articles = storage.query(
        'SELECT draft_id, domain, text, quality_score FROM "filtered_articles" WHERE language = $language',
        {"language": language}, table="filtered_articles",
    )
    released = storage.query(
        'SELECT id FROM "balanced_dataset" WHERE language = $language', {"language": language}, table="balanced_dataset"
    )
    index = storage.query(
        'SELECT draft_id, text_hash, band, band_key FROM "minhash_index" WHERE language = $language AND params = $params',
        {"language": language, "params": dedup.index_params(settings.dedup)}, table="minhash_index",
    )
    articles = articles.with_columns(released=pl.col("draft_id").is_in(released["id"].to_list()))
    drops = dedup.cross_domain_duplicates(articles, index.select("draft_id", "text_hash", "band", "band_key"),
                                          settings.dedup)
    return drops.with_columns(language=pl.lit(language)).select(list(frame_schema("near_duplicate_drops"))).cast(
        frame_schema("near_duplicate_drops")
    )


def load_benchmarks(config: CosmoConfig) -> decontamination.BenchmarkIndex | None:
    """The n-gram index of every benchmark file listed in filters.yaml (None when none is)."""
    settings = config.filters.decontamination
    files = [(config.benchmark_path(b.path), b) for b in settings.benchmarks]
    return decontamination.load_index(files, settings)


def model_judge(config: CosmoConfig, outlines: pl.DataFrame) -> Judge:
    """A judge that asks the configured model through the one LLM client, opened only when there is work."""

    def run(drafts: pl.DataFrame) -> pl.DataFrame:
        from cosmo_assets.filters.judge import judge_drafts
        from cosmo_assets.llm.client import LLMClient, open_endpoint

        titled = drafts.join(outlines.select("outline_id", "title"), on="outline_id", how="left", maintain_order="left")
        with open_endpoint(config.model) as endpoint:
            client = LLMClient(config.model, endpoint)
            return judge_drafts(titled, config.filters.judge, client.complete_all)

    return run
