"""Decontamination: a draft that reproduces a benchmark item is removed, and the item it matched is recorded.

As Cosmopedia did: word 10-grams shared with an item make the draft a candidate, and the match is
confirmed when more than half of the item's words lie inside shared 10-grams. Items shorter than ten
words are matched as one n-gram of their own length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from cosmo_assets.config import BenchmarkFile, DecontaminationSettings
from cosmo_assets.filters import kernels
from cosmo_assets.filters.text import flat_values, shingles, tokenise

# Items shorter than this are too generic to call a match ("What is water?").
MIN_ITEM_WORDS = 4


class BenchmarkFileError(ValueError):
    """A benchmark file cannot be read or lacks the configured fields; the message names the file."""


def read_benchmark(path: Path, spec: BenchmarkFile) -> pl.DataFrame:
    """(item, text) rows of one benchmark file; `item` reads '<name>:<id>'."""
    try:
        raw = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path, infer_schema_length=None)
    except Exception as exc:  # noqa: BLE001 - every reader error becomes one clear message
        raise BenchmarkFileError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from exc
    for field in (spec.text_field, spec.id_field):
        if field and field not in raw.columns:
            raise BenchmarkFileError(f"{path}: expected a field {field!r} in every item, found fields {raw.columns}")
    ids = pl.col(spec.id_field).cast(pl.String) if spec.id_field else pl.int_range(pl.len()).cast(pl.String)
    return raw.select(item=pl.lit(f"{spec.name}:") + ids, text=pl.col(spec.text_field).cast(pl.String)).filter(
        pl.col("text").str.strip_chars().fill_null("") != ""
    )


@dataclass(frozen=True)
class BenchmarkIndex:
    """Every n-gram of every benchmark item: (gram, item row, position), and each item's label and length."""

    grams: pl.DataFrame
    items: list[str]
    words: np.ndarray
    ngram: int

    @property
    def sizes(self) -> list[int]:
        return sorted({min(int(w), self.ngram) for w in self.words})


def build_index(items: pl.DataFrame, settings: DecontaminationSettings) -> BenchmarkIndex:
    tokenised = tokenise(items.select("text")).with_columns(item=items["item"])
    tokenised = tokenised.filter(pl.col("word_keys").list.len() >= MIN_ITEM_WORDS)
    words = tokenised["word_keys"].list.len().to_numpy().astype(np.int64)
    parts = []
    for size in sorted({min(int(w), settings.ngram_words) for w in words}):
        rows = np.flatnonzero(np.minimum(words, settings.ngram_words) == size)
        chosen = tokenised["word_keys"].gather(rows)
        grams, offsets = shingles(chosen, size)
        per_row = np.diff(offsets)
        positions = np.concatenate([np.arange(k) for k in per_row]) if per_row.size else np.zeros(0, np.int64)
        word_keys, word_offsets = flat_values(chosen)
        parts.append(pl.DataFrame({
            "gram": grams,
            "item_row": np.repeat(rows, per_row),
            "position": positions,
            "size": np.full(grams.size, size, np.int64),
            "first": word_keys.astype(np.uint64)[np.repeat(word_offsets[:-1], per_row) + positions],
        }))
    grams = pl.concat(parts) if parts else pl.DataFrame(
        schema={"gram": pl.UInt64, "item_row": pl.Int64, "position": pl.Int64, "size": pl.Int64, "first": pl.UInt64}
    )
    return BenchmarkIndex(grams, tokenised["item"].to_list(), words, settings.ngram_words)


def load_index(files: list[tuple[Path, BenchmarkFile]], settings: DecontaminationSettings) -> BenchmarkIndex | None:
    if not files:
        return None
    items = pl.concat([read_benchmark(path, spec) for path, spec in files])
    return build_index(items, settings)


def match(tokenised: pl.DataFrame, index: BenchmarkIndex | None, min_overlap: float) -> pl.DataFrame:
    """Per draft (in order): the benchmark item it reproduces (null for none) and the share of it matched."""
    schema = {"benchmark_match": pl.String, "benchmark_overlap": pl.Float64}
    nothing = pl.DataFrame({name: [None] * tokenised.height for name in schema}, schema=schema)
    if index is None or index.grams.height == 0 or tokenised.height == 0:
        return nothing
    keys, offsets = flat_values(tokenised["word_keys"])
    keys = keys.astype(np.uint64)
    hits = []
    for size in index.sizes:
        items = index.grams.filter(pl.col("size") == size)
        known = np.unique(items["gram"].to_numpy())
        first_words = kernels.first_word_filter(items["first"].to_numpy())
        # Most drafts share nothing with any item: look each n-gram up, keep only the few that match.
        rows, grams = kernels.ngram_hits(keys, offsets, size, known, first_words)
        if rows.size == 0:
            continue
        found = pl.DataFrame({"draft_row": rows, "gram": grams}).unique()
        hits.append(found.join(items.drop("first"), on="gram"))
    if not hits:
        return nothing
    found = pl.concat(hits).group_by("draft_row", "item_row", "size").agg(pl.col("position").unique())
    best: dict[int, tuple[float, str]] = {}
    for draft_row, item_row, size, positions in found.iter_rows():
        words = int(index.words[item_row])
        covered = np.zeros(words, np.bool_)
        for p in positions:
            covered[p : p + size] = True
        overlap = float(covered.mean())
        label = index.items[item_row]
        if overlap > min_overlap and (overlap, label) > best.get(draft_row, (0.0, "")):
            best[draft_row] = (overlap, label)
    labels = [best[r][1] if r in best else None for r in range(tokenised.height)]
    overlaps = [best[r][0] if r in best else None for r in range(tokenised.height)]
    return pl.DataFrame({"benchmark_match": labels, "benchmark_overlap": overlaps}, schema=schema)
