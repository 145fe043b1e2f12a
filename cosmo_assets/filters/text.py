"""Words, lines and stable word keys of a text: what the quality scores, deduplication and decontamination read.

Word hashes are FNV-1a over lower-cased UTF-8 bytes (kernels.scan_texts). Unlike polars' own `hash()` they do not
change between library versions, so MinHash signatures stored in DuckDB stay comparable across runs.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import polars as pl
import pyarrow as pa

from cosmo_assets.filters import kernels

# Words are found by kernels.scan_texts: letters or digits, joined by inner apostrophes or hyphens
# ("don't", "hyphen-words"), as the regex WORD_PATTERN would find them.
WORD_PATTERN = r"[^\W_]+(?:['’-][^\W_]+)*"
# Character tables cover planes 0-2 (every script in use); rarer code points count as symbols.
_TABLE_SIZE = 0x30000


@functools.cache
def character_tables() -> tuple[np.ndarray, np.ndarray]:
    """(class per code point: letter / word character / space bits, lower-case code point), from Python's
    own Unicode data, built once per process (about 0.3 s)."""
    classes = np.zeros(_TABLE_SIZE, np.uint8)
    lower = np.arange(_TABLE_SIZE, dtype=np.int64)
    for cp in range(_TABLE_SIZE):
        c = chr(cp)
        if c.isalpha():
            classes[cp] |= kernels.LETTER
        if c.isalnum() or unicodedata.category(c).startswith("M"):
            classes[cp] |= kernels.WORD_CHAR
        if c.isspace():
            classes[cp] |= kernels.SPACE
        folded = c.lower()
        if len(folded) == 1:
            lower[cp] = ord(folded)
    return classes, lower


def lines() -> pl.Expr:
    """Non-empty lines of `text`, stripped."""
    return (
        pl.col("text").fill_null("").str.split("\n")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("lines")
    )


def text_bytes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, byte offsets per text) of a string column, nulls as empty texts."""
    array = texts.fill_null("").cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if len(array) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    _, offset_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offset_buf, np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def flat_values(lists: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, row offsets) of a list column of numbers, without copying where Arrow allows."""
    array = lists.to_arrow(compat_level=pl.CompatLevel.oldest())
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if array.null_count:
        array = lists.fill_null([]).to_arrow(compat_level=pl.CompatLevel.oldest())
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    offsets = array.offsets.to_numpy().astype(np.int64)
    values = array.values.to_numpy(zero_copy_only=False)
    # Sliced arrays keep their parent's values: rebase so offsets index `values` from 0.
    values = values[offsets[0] : offsets[-1]] if offsets.size else values[:0]
    return values, offsets - (offsets[0] if offsets.size else 0)


def list_column(name: str, values: np.ndarray, lengths: np.ndarray) -> pl.Series:
    """A list column from flat values and the number of values per row."""
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pl.Series(name, pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values)))


def scan(texts: pl.Series) -> pl.DataFrame:
    """Per text: `word_keys` (each word's stable hash in the high bits, its length in characters in the low
    16), and `tokens` / `letter_tokens`: whitespace-separated tokens, and those with a letter."""
    data, offsets = text_bytes(texts)
    classes, lower = character_tables()
    keys, words, tokens, letter_tokens = kernels.scan_texts(data, offsets, classes, lower)
    return pl.DataFrame([
        list_column("word_keys", keys, words),
        pl.Series("tokens", tokens, dtype=pl.Int64),
        pl.Series("letter_tokens", letter_tokens, dtype=pl.Int64),
    ])


def word_hashes(words: list[str]) -> list[int]:
    """The hash part of each word's key, as `scan` makes it (for stop-word lists and tests)."""
    keys = scan(pl.Series(words, dtype=pl.String))["word_keys"].to_list()
    return [int(k[0]) & int(kernels.HASH_MASK) if k else 0 for k in keys]


def tokenise(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `lines`, `word_keys`, `tokens` and `letter_tokens` to a frame with a `text` column."""
    return frame.with_columns(lines()).hstack(scan(frame["text"]))


def shingles(keys: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable hashes of every word n-gram of each row (flat) and their row offsets."""
    values, offsets = flat_values(keys)
    hashes, per_row = kernels.ngram_hashes(values.astype(np.uint64), offsets, n)
    row_offsets = np.zeros(per_row.size + 1, np.int64)
    np.cumsum(per_row, out=row_offsets[1:])
    return hashes, row_offsets
