"""Gopher-style quality scores, each a polars expression over a tokenised frame (text, lines, word_keys,
tokens, letter_tokens: see text.tokenise).

Each can be tried on a three-row frame: `tokenise(frame).select(top_ngram_share(2))`. The n-gram
repetition scores run a compiled kernel over the whole column (one call per column, not per row):
counting n-grams inside `list.eval` cost over 100 µs a document, which alone would miss the
filter's throughput target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from cosmo_assets.config.filters import DUPLICATE_NGRAM_SIZES, TOP_NGRAM_SIZES
from cosmo_assets.filters import kernels
from cosmo_assets.filters.text import flat_values, word_hashes

_keys = pl.col("word_keys")
_lines = pl.col("lines")


def _share(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    # Empty texts score 0 rather than NaN, so thresholds compare cleanly.
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0)


def word_count() -> pl.Expr:
    return _keys.list.len().cast(pl.Int32).alias("word_count")


def mean_word_length() -> pl.Expr:
    """Mean characters per word (the low bits of each word key)."""
    lengths = _keys.list.eval(pl.element() & kernels.LENGTH_MASK)
    return lengths.list.mean().fill_null(0.0).alias("mean_word_length")


def symbol_word_ratio() -> pl.Expr:
    """Hash signs and ellipses per word: high in lists of tags and in text that trails off."""
    text = pl.col("text").fill_null("")
    symbols = text.str.count_matches("#", literal=True) + text.str.count_matches(r"\.\.\.|…")
    return _share(symbols, _keys.list.len()).alias("symbol_word_ratio")


def punctuated_line_share() -> pl.Expr:
    """Share of non-empty lines that end like a sentence: low in menus, tag lists and cut-off text."""
    ends = _lines.list.eval(pl.element().str.contains(r"[.!?…:;\"'”’)]$").cast(pl.Float64))
    return ends.list.mean().fill_null(0.0).alias("punctuated_line_share")


def duplicate_line_share() -> pl.Expr:
    """Share of non-empty lines that repeat an earlier line."""
    lowered = _lines.list.eval(pl.element().str.to_lowercase())
    return _share(lowered.list.len() - lowered.list.n_unique(), lowered.list.len()).alias("duplicate_line_share")


def _per_row(kernel: Callable, n: int, name: str) -> pl.Expr:
    def run(keys: pl.Series) -> pl.Series:
        values, offsets = flat_values(keys)
        return pl.Series(name, kernel(values.astype(np.uint64), offsets, n))

    return pl.col("word_keys").map_batches(run, return_dtype=pl.Float64).alias(name)


def top_ngram_share(n: int) -> pl.Expr:
    """Characters of the most frequent repeated word n-gram times its count, over all word characters (Gopher).

    Overlapping occurrences each count, so one phrase over and over reaches 1.0 (clipped there); an
    n-gram seen once is no repetition and counts 0, which keeps short texts from firing.
    """
    return _per_row(kernels.top_ngram_share, n, f"top_{n}gram_share")


def duplicate_ngram_share(n: int) -> pl.Expr:
    """Characters of words inside a word n-gram that repeats an earlier one, over all word characters (Gopher)."""
    return _per_row(kernels.duplicate_ngram_share, n, f"duplicate_{n}gram_share")


def _repetition(keys: pl.Series) -> pl.Series:
    values, offsets = flat_values(keys)
    top, dup = kernels.ngram_repetition(values.astype(np.uint64), offsets, max(DUPLICATE_NGRAM_SIZES))
    columns = {f"top_{n}gram_share": top[:, n - 2] for n in TOP_NGRAM_SIZES}
    columns.update({f"duplicate_{n}gram_share": dup[:, n - 2] for n in DUPLICATE_NGRAM_SIZES})
    return pl.DataFrame(columns).to_struct("ngram_repetition")


def ngram_repetition() -> pl.Expr:
    """Every top and duplicate n-gram share in one pass over the words (a struct; quality_scores unnests it)."""
    fields = [f"top_{n}gram_share" for n in TOP_NGRAM_SIZES] + [f"duplicate_{n}gram_share" for n in DUPLICATE_NGRAM_SIZES]
    dtype = pl.Struct({name: pl.Float64 for name in fields})
    return pl.col("word_keys").map_batches(_repetition, return_dtype=dtype).alias("ngram_repetition")


def stop_word_count(stop_words: Iterable[str]) -> pl.Expr:
    """Occurrences of the language's stop words: real prose cannot avoid them (Gopher asks for two)."""
    listed = pl.Series(sorted(set(word_hashes(list(stop_words)))), dtype=pl.UInt64)
    hashed = _keys.list.eval((pl.element() & kernels.HASH_MASK).is_in(listed.implode()))
    return hashed.list.sum().cast(pl.Int32).alias("stop_word_count")


def non_alphabetic_word_share() -> pl.Expr:
    """Share of whitespace-separated tokens without a single letter: numbers, symbols, markup."""
    tokens = pl.col("tokens")
    return _share(tokens - pl.col("letter_tokens"), tokens).alias("non_alphabetic_word_share")


def quality_scores(frame: pl.DataFrame, stop_words: Iterable[str] | None) -> pl.DataFrame:
    """Every Gopher-style score for a tokenised frame; stop words null where the language lists none."""
    listed = list(stop_words or [])
    return frame.with_columns(
        word_count(),
        mean_word_length(),
        symbol_word_ratio(),
        punctuated_line_share(),
        duplicate_line_share(),
        ngram_repetition(),
        stop_word_count(listed) if listed else pl.lit(None, pl.Int32).alias("stop_word_count"),
        non_alphabetic_word_share(),
    ).unnest("ngram_repetition")
