"""Words, lines and stable word keys of a text: what the quality scores, deduplication and decontamination read.

Word hashes are FNV-1a over UTF-8 bytes (kernels.hash_strings). Unlike polars' own `hash()` they do not
change between library versions, so MinHash signatures stored in DuckDB stay comparable across runs.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from cosmo_assets.filters import kernels

# A word: letters or digits, joined by inner apostrophes or hyphens ("don't", "hyphen-words").
WORD_PATTERN = r"[^\W_]+(?:['’-][^\W_]+)*"


def words() -> pl.Expr:
    """Lower-cased words of `text`, as a list column (empty for a missing text)."""
    return pl.col("text").fill_null("").str.to_lowercase().str.extract_all(WORD_PATTERN).alias("words")


def lines() -> pl.Expr:
    """Non-empty lines of `text`, stripped."""
    return (
        pl.col("text").fill_null("").str.split("\n")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("lines")
    )


def flat_strings(lists: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTF-8 bytes, byte offsets per string, strings per row) of a list-of-strings column."""
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.fill_null([]).explode(empty_as_null=False).to_arrow(compat_level=pl.CompatLevel.oldest())
    flat = flat.combine_chunks() if isinstance(flat, pa.ChunkedArray) else flat
    if len(flat) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64), lengths
    _, offset_buf, data_buf = flat.buffers()
    offsets = np.frombuffer(offset_buf, np.int64)[flat.offset : flat.offset + len(flat) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets, lengths


def flat_values(lists: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, row offsets) of a list column of numbers."""
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = lists.fill_null([]).explode(empty_as_null=False).to_numpy()
    return values, offsets


def list_column(name: str, values: np.ndarray, lengths: np.ndarray) -> pl.Series:
    """A list column from flat values and the number of values per row."""
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pl.Series(name, pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values)))


def word_keys(word_lists: pl.Series) -> pl.Series:
    """Per row, a list of word keys: the word's stable hash in the high bits, its length in characters in the low 16."""
    data, offsets, lengths = flat_strings(word_lists)
    hashes = kernels.hash_strings(data, offsets)
    chars = word_lists.fill_null([]).explode(empty_as_null=False).str.len_chars().to_numpy().astype(np.uint64)
    keys = (hashes & kernels.HASH_MASK) | np.minimum(chars, kernels.LENGTH_MASK)
    return list_column("word_keys", keys, lengths)


def tokenise(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `words`, `lines` and `word_keys` to a frame with a `text` column."""
    with_words = frame.with_columns(words(), lines())
    return with_words.with_columns(word_keys(with_words["words"]))


def shingles(keys: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable hashes of every word n-gram of each row (flat) and their row offsets."""
    values, offsets = flat_values(keys)
    hashes, per_row = kernels.ngram_hashes(values.astype(np.uint64), offsets, n)
    row_offsets = np.zeros(per_row.size + 1, np.int64)
    np.cumsum(per_row, out=row_offsets[1:])
    return hashes, row_offsets
