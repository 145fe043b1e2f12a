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
from cosmo_assets.filters import alignment, chatter, decontamination, dedup, quality, truncation
from cosmo_assets.filters.language import identify_language
from cosmo_assets.filters.text import tokenise
from cosmo_assets.storage import Storage, empty_frame, frame_schema

JUDGE_COLUMNS = {c: pl.Int32 for c in ("judge_clarity", "judge_accuracy", "judge_educational_value", "judge_supported",
                                         "judge_contradicted", "judge_unverifiable")}
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
    texts = drafts["text"].to_list()
    finish = drafts["finish_reason"].to_list() if "finish_reason" in drafts.columns else [None] * drafts.height
    scored = scored.with_columns(
        truncated=pl.Series([truncation.truncated(t, f) for t, f in zip(texts, finish)], dtype=pl.Boolean),
        chatter=pl.Series([chatter.task_sentences(t or "", language) for t in texts], dtype=pl.List(pl.String)),
    )
    if "outline_id" in drafts.columns:
        scored = scored.hstack(alignment.align(drafts, outlines, settings, language))
    else:
        scored = scored.hstack(pl.DataFrame(
            {c: [None] * drafts.height for c in alignment.ALIGNMENT_SCHEMA}, schema=alignment.ALIGNMENT_SCHEMA
        ).with_columns(contradicted_facts=pl.lit([], pl.List(pl.String)), unsupported_items=pl.lit([], pl.List(pl.String))))
    return scored


def clean_drafts(drafts: pl.DataFrame, outlines: pl.DataFrame | None, settings: FilterSettings, language: str) -> pl.DataFrame:
    """Cut assistant openings and closings (chatter.clean) off each draft's text, recording `cleaned` and
    `cleaned_off` (what was cut); with clean_wrappers off, texts stay as they are and the chatter rule judges them."""
    titles = dict(outlines.select("outline_id", "title").iter_rows()) if outlines is not None and "title" in outlines.columns else {}
    texts, cuts = [], []
    outline_ids = drafts["outline_id"].to_list() if "outline_id" in drafts.columns else [None] * drafts.height
    for text, outline_id in zip(drafts["text"].to_list(), outline_ids):
        cleaned, cut = chatter.clean(text, language, titles.get(outline_id) or "") if text and settings.clean_wrappers else (text, [])
        texts.append(cleaned if cut else text)
        cuts.append(cut)
    return drafts.with_columns(
        text=pl.Series(texts, dtype=pl.String),
        cleaned=pl.Series([bool(c) for c in cuts], dtype=pl.Boolean),
        cleaned_off=pl.Series(cuts, dtype=pl.List(pl.String)),
    )


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


def _judge_contradicts(settings: FilterSettings, language: str) -> pl.Expr:
    judge = settings.judge
    judged = pl.sum_horizontal("judge_supported", "judge_contradicted", "judge_unverifiable")
    return (pl.col("judge_contradicted") > judge.max_contradicted_claims) | (
        (judged > 0) & (pl.col("judge_unverifiable") / judged > judge.max_unverifiable_share)
    )


Rule = Callable[[FilterSettings, str], pl.Expr]

# Each reject reason and when it fires (settings, partition language -> a boolean per row), in the order
# reasons are listed on a rejected draft. The one place reason names are written; a new rule is one entry.
RULES: tuple[tuple[str, Rule], ...] = (
    ("generation_failed", lambda s, lang: pl.col("status") != "ok"),
    ("truncated", lambda s, lang: pl.col("truncated")),
    ("assistant_chatter", lambda s, lang: pl.col("chatter").list.len() > s.max_chatter_sentences),
    ("prompt_echo", lambda s, lang: pl.col("prompt_echo_share") > s.max_prompt_echo_share),
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
    ("unsupported_claims", lambda s, lang: pl.col("unsupported_claims") > s.max_unsupported_claims),
    ("judged_poor", _judged_poor),
    ("judge_contradicts", _judge_contradicts),
    ("benchmark_contamination", lambda s, lang: pl.col("benchmark_match").is_not_null()),
)
# Set after the rules, by deduplication among the drafts that pass them.
EXACT_DUPLICATE, NEAR_DUPLICATE = "exact_duplicate", "near_duplicate"
REASONS = (*(reason for reason, _ in RULES), EXACT_DUPLICATE, NEAR_DUPLICATE)
# Reasons that say nothing of the draft itself: its quality score does not count them.
_RELATIVE = ("benchmark_contamination", EXACT_DUPLICATE, NEAR_DUPLICATE)


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


def quality_score(settings: FilterSettings, language: str) -> pl.Expr:
    """One number in [0, 1] that ranks drafts: the mean of graded signals (length adequacy, freedom from
    repetition, confidence in the partition's language, section and fact coverage, supported claims),
    times 0.9 when a wrapper was cut off, halved for every rule about the draft itself that fires (duplicates and benchmark matches aside), so a
    draft that fails a gate always ranks below one like it that passes."""
    length = (pl.col("word_count") / (2 * max(settings.min_words, 1))).clip(0.0, 1.0)
    in_language = pl.when(pl.col("language_detected") == language).then(pl.col("language_confidence")).otherwise(0.0)
    parts = [
        length,
        1 - pl.col("duplicate_line_share"),
        1 - pl.col("duplicate_5gram_share"),
        (1 - pl.col("top_2gram_share") * 2).clip(0.0, 1.0),
        in_language,
        pl.col("section_coverage"),
        pl.col("fact_coverage"),
        1 - pl.col("unsupported_claims"),
    ]
    failed = pl.col("reject_reasons").list.set_difference(pl.lit(list(_RELATIVE), pl.List(pl.String))).list.len()
    graded = pl.mean_horizontal(parts).fill_null(0.0).clip(0.0, 1.0)
    # A draft that needed its wrapper cut ranks a little below one that did not.
    wrapped = pl.when(pl.col("cleaned").fill_null(False)).then(0.9).otherwise(1.0)
    return (graded * wrapped * pl.lit(0.5).pow(failed)).alias("quality_score")


@dataclass
class FilterOutcome:
    kept: pl.DataFrame
    rejected: pl.DataFrame
    index: pl.DataFrame  # minhash_index rows of the kept articles
    seconds: dict[str, float] = field(default_factory=dict)


def timed(seconds: dict[str, float], step: str, started: float) -> None:
    """Add the seconds since `started` to `step`: a streamed run adds up its chunks."""
    seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started


def score_chunk(
    drafts: pl.DataFrame,
    settings: FilterSettings,
    language: str,
    outlines: pl.DataFrame | None = None,
    benchmarks: decontamination.BenchmarkIndex | None = None,
    judge: Judge | None = None,
    seconds: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Every score, the reject reasons (duplicates aside) and the quality score of a chunk of drafts, with
    the tokenised columns the duplicate step reads. Adds each step's seconds to `seconds`."""
    seconds = {} if seconds is None else seconds
    started = time.perf_counter()
    drafts = clean_drafts(drafts, outlines, settings, language)
    scored = score_drafts(drafts, settings, language, outlines)
    timed(seconds, "scores", started)

    started = time.perf_counter()
    scored = scored.hstack(decontamination.match(scored, benchmarks, settings.decontamination.min_overlap))
    timed(seconds, "decontamination", started)

    judged = pl.DataFrame({c: [None] * scored.height for c in JUDGE_COLUMNS}, schema=JUDGE_COLUMNS)
    scored = scored.hstack(judged).with_columns(reject_reasons(settings, language))
    if judge is not None and settings.judge.enabled:
        started = time.perf_counter()
        passing = np.flatnonzero((scored["reject_reasons"].list.len() == 0).to_numpy())
        if passing.size:
            scores = judge(scored[passing.tolist()])
            for column in scores.columns:
                scored = scored.with_columns(scored[column].scatter(passing, scores[column]))
            scored = scored.with_columns(reject_reasons(settings, language))
        timed(seconds, "judge", started)
    return scored.with_columns(quality_score(settings, language))


def filter_drafts(
    drafts: pl.DataFrame,
    settings: FilterSettings,
    language: str,
    outlines: pl.DataFrame | None = None,
    benchmarks: decontamination.BenchmarkIndex | None = None,
    judge: Judge | None = None,
    chunk_rows: int | None = None,
) -> FilterOutcome:
    """Split drafts into kept articles and rejected drafts with every reason. Every draft lands in one.

    Duplicates: the best article of each group stays (quality, then id); only drafts that pass every other
    rule may stay, so near_dup_of always names a kept article. The frame is scored `chunk_rows` at a time
    (filters.yaml chunk_rows) through the same streamed run as a stored partition (filter_run.py), so the
    answer does not depend on the chunk size.
    """
    from cosmo_assets.stages.filter_run import FilterRun  # builds on this module's rules

    chunk_rows = chunk_rows or settings.chunk_rows
    with FilterRun(settings, language, benchmarks) as run:
        for chunk in drafts.iter_slices(chunk_rows):
            run.add(chunk, outlines, judge)
        run.resolve()
        kept = pl.concat([empty_frame("filtered_articles"), *run.kept(chunk_rows)], how="vertical_relaxed")
        rejected = pl.concat([empty_frame("rejected_drafts"), *run.rejected(chunk_rows)], how="vertical_relaxed")
        index = pl.concat([run.index_schema(), *run.index(chunk_rows)], how="vertical_relaxed")
        return FilterOutcome(kept, rejected, index, run.seconds)


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


# What real text must pass before it is mixed in: the quality and language gates, not those about a
# plan, a prompt or a model's habits (it has no outline, seed or prompt, and no model wrote it).
REAL_TEXT_REASONS = (
    "too_short", "too_long", "odd_word_length", "too_many_symbols", "unpunctuated_lines", "repeated_lines",
    "repetitive_phrases", "repeated_passages", "few_stop_words", "non_alphabetic", "wrong_language",
)


def gate_real_text(real: pl.DataFrame, settings: FilterSettings, language: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that pass, rows that fail with `reject_reasons`) of a real_text frame."""
    if real.height == 0:
        return real, real.with_columns(reject_reasons=pl.lit([], pl.List(pl.String)))
    frame = real.select("id", "text").with_columns(status=pl.lit("ok"))
    scored = score_drafts(frame, settings, language)
    rules = [(reason, rule) for reason, rule in RULES if reason in REAL_TEXT_REASONS]
    reasons = scored.select(
        pl.concat_list([
            pl.when(rule(settings, language).fill_null(False)).then(pl.lit(reason)).otherwise(pl.lit(None, pl.String))
            for reason, rule in rules
        ]).list.drop_nulls().alias("reject_reasons")
    )["reject_reasons"]
    passed = (reasons.list.len() == 0).to_numpy()
    return real.filter(passed), real.filter(~passed).with_columns(reject_reasons=reasons.filter(~passed))


def with_seed_facts(outlines: pl.DataFrame, seeds: pl.DataFrame) -> pl.DataFrame:
    """Outlines with their seed's facts and description: what an article's claims are checked against."""
    return outlines.join(seeds.select("seed_id", "facts", "description"), on="seed_id", how="left", maintain_order="left")


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

        wanted = [c for c in ("outline_id", "title", "facts", "description") if c in outlines.columns]
        titled = drafts.join(outlines.select(wanted), on="outline_id", how="left", maintain_order="left")
        with open_endpoint(config.model) as endpoint:
            client = LLMClient(config.model, endpoint)
            return judge_drafts(titled, config.filters.judge, client.complete_all)

    return run
