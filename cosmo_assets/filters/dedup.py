"""Exact and near duplicates: a hash of the normalised words, MinHash signatures in datasketch's scheme
computed for all rows at once, LSH bands with explicit bands x rows, and the exact Jaccard of word
shingles to confirm each candidate pair.

The band keys of kept articles are stored (storage table `minhash_index`), so a release compares new
partitions with what is already there without hashing old articles again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from cosmo_assets.config import DedupSettings
from cosmo_assets.filters import kernels
from cosmo_assets.filters.text import flat_values, shingles, tokenise


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that LSH with `bands` x `rows` makes a pair of this Jaccard similarity a candidate."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def index_params(settings: DedupSettings) -> str:
    """Names the signature scheme: band keys made with other parameters are not comparable."""
    return f"w{settings.shingle_words}-p{settings.num_perm}-s{settings.seed}-b{settings.bands}-r{settings.rows}"


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own permutation parameters, so signatures equal datasketch MinHash values."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


@dataclass(frozen=True)
class Fingerprints:
    """Per row: a normalised text hash (0 without words), shingles (flat, with offsets) and LSH band keys."""

    text_hash: np.ndarray
    shingles: np.ndarray
    offsets: np.ndarray
    band_keys: np.ndarray  # rows x bands; meaningless where has_shingles is False

    @property
    def has_shingles(self) -> np.ndarray:
        return np.diff(self.offsets) > 0


def signatures(tokenised: pl.DataFrame, settings: DedupSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MinHash signatures rows x num_perm, shingles, offsets) of a tokenised frame."""
    grams, offsets = shingles(tokenised["word_keys"], settings.shingle_words)
    a, b = permutations(settings.num_perm, settings.seed)
    return kernels.minhash_signatures(grams, offsets, a, b), grams, offsets


def band_keys(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band: rows that agree on all `rows` values of a band share its key."""
    keys = np.zeros((signature.shape[0], bands), np.uint64)
    sig = signature.astype(np.uint64)
    multiplier = np.uint64(kernels.NGRAM_MULTIPLIER)
    for band in range(bands):
        h = np.full(signature.shape[0], band + 1, np.uint64)
        for r in range(band * rows, (band + 1) * rows):
            h = h * multiplier + sig[:, r]
        keys[:, band] = h ^ (h >> np.uint64(29))
    return keys


def fingerprints(tokenised: pl.DataFrame, settings: DedupSettings) -> Fingerprints:
    values, word_offsets = flat_values(tokenised["word_keys"])
    text_hash = kernels.sequence_hashes(values.astype(np.uint64), word_offsets)
    signature, grams, offsets = signatures(tokenised, settings)
    return Fingerprints(text_hash, grams, offsets, band_keys(signature, settings.bands, settings.rows))


def index_rows(ids: Sequence[str], fp: Fingerprints, rows: np.ndarray | None = None) -> pl.DataFrame:
    """Long rows (id, text_hash, band, band_key) for `rows` (default all) that have shingles: the shape
    stored in `minhash_index`. `ids` name the chosen rows, in order."""
    rows = np.arange(fp.text_hash.size) if rows is None else np.asarray(rows, np.int64)
    has = fp.has_shingles[rows]
    ids = np.asarray(ids, dtype=object)[has]
    keep = rows[has]
    bands = fp.band_keys.shape[1]
    return pl.DataFrame(
        {
            "draft_id": np.repeat(ids, bands).tolist() if keep.size else [],
            "text_hash": np.repeat(fp.text_hash[keep], bands),
            "band": np.tile(np.arange(bands, dtype=np.int16), keep.size),
            "band_key": fp.band_keys[keep].reshape(-1),
        },
        schema={"draft_id": pl.String, "text_hash": pl.UInt64, "band": pl.Int16, "band_key": pl.UInt64},
    )


def jaccard(fp: Fingerprints, pairs: np.ndarray) -> np.ndarray:
    if pairs.size == 0:
        return np.zeros(0, np.float64)
    return kernels.pair_jaccard(fp.shingles, fp.offsets, pairs[:, 0].copy(), pairs[:, 1].copy())


@dataclass(frozen=True)
class Duplicates:
    """Per row: the row it duplicates (-1 for none), how (exact / near) and the similarity."""

    of: np.ndarray
    exact: np.ndarray
    similarity: np.ndarray


def resolve(
    rank: np.ndarray, eligible: np.ndarray, text_hash: np.ndarray, pairs: np.ndarray, similarity: np.ndarray,
    threshold: float,
) -> Duplicates:
    """Walk rows best first; a row whose exact twin or confirmed near twin was already kept is a duplicate of it.

    Only `eligible` rows are kept (e.g. drafts that pass every other filter), so a duplicate always points
    at an article that stays. Same inputs, same answer: the walk order is `rank`.
    """
    n = rank.size
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for (i, j), s in zip(pairs.tolist(), similarity.tolist()):
        if s >= threshold:
            neighbours.setdefault(i, []).append((j, s))
            neighbours.setdefault(j, []).append((i, s))
    of = np.full(n, -1, np.int64)
    exact = np.zeros(n, np.bool_)
    sim = np.zeros(n, np.float64)
    kept_by_hash: dict[int, int] = {}
    kept: set[int] = set()
    position = np.empty(n, np.int64)
    position[rank] = np.arange(n)
    for row in rank.tolist():
        h = int(text_hash[row])
        twin = kept_by_hash.get(h) if h else None
        if twin is not None:
            of[row], exact[row], sim[row] = twin, True, 1.0
            continue
        near = [(position[j], j, s) for j, s in neighbours.get(row, []) if j in kept]
        if near:
            _, j, s = min(near)
            of[row], sim[row] = j, s
            continue
        if eligible[row]:
            kept.add(row)
            if h:
                kept_by_hash[h] = row
    return Duplicates(of, exact, sim)


def cross_domain_duplicates(
    articles: pl.DataFrame, index: pl.DataFrame, settings: DedupSettings
) -> pl.DataFrame:
    """Near duplicates across domains among the kept articles of one language.

    `articles`: draft_id, domain, text, quality_score, released (already in the current release).
    `index`: stored band keys (draft_id, text_hash, band, band_key) for these articles where they exist;
    articles without index rows are fingerprinted from their text. In each group of duplicates the
    article already released stays, then the best scored, then the smallest id.
    Returns (id, domain, near_dup_of, near_dup_domain, similarity) for each article to drop.
    """
    columns = {"id": pl.String, "domain": pl.String, "near_dup_of": pl.String, "near_dup_domain": pl.String,
               "similarity": pl.Float64}
    if articles.height < 2:
        return pl.DataFrame(schema=columns)
    articles = articles.sort("draft_id")
    ids = articles["draft_id"].to_list()
    row_of = {d: i for i, d in enumerate(ids)}
    stored = index.filter(pl.col("draft_id").is_in(ids))
    missing = articles.filter(~pl.col("draft_id").is_in(stored["draft_id"].unique().to_list()))
    if missing.height:
        fp = fingerprints(tokenise(missing.select("text")), settings)
        stored = pl.concat([stored, index_rows(missing["draft_id"].to_list(), fp)], how="vertical_relaxed")
    domain = articles["domain"].to_numpy()
    long = stored.with_columns(row=pl.col("draft_id").replace_strict(row_of, return_dtype=pl.Int64))
    # Candidates: a shared band key or an equal text hash, between different domains.
    by_band = long.select("row", "band", key="band_key")
    by_hash = long.select("row", band=pl.lit(-1, pl.Int16), key="text_hash").unique()
    buckets = pl.concat([by_band, by_hash]).group_by("band", "key").agg(pl.col("row").unique())
    buckets = buckets.filter(pl.col("row").list.len() > 1)
    pairs = (
        buckets.select(left="row", right="row").explode("left", empty_as_null=False).explode("right", empty_as_null=False)
        .filter(pl.col("left") < pl.col("right")).unique()
    )
    pairs = pairs.filter(
        pl.col("left").replace_strict(dict(enumerate(domain)), return_dtype=pl.String)
        != pl.col("right").replace_strict(dict(enumerate(domain)), return_dtype=pl.String)
    ).sort("left", "right")
    if pairs.height == 0:
        return pl.DataFrame(schema=columns)
    involved = np.unique(pairs.to_numpy().reshape(-1))
    local = {int(r): k for k, r in enumerate(involved)}
    fp = fingerprints(tokenise(articles[involved.tolist()].select("text")), settings)
    local_pairs = np.array([[local[int(i)], local[int(j)]] for i, j in pairs.iter_rows()], np.int64)
    similarity = jaccard(fp, local_pairs)
    sub = articles[involved.tolist()]
    rank = np.lexsort((
        np.arange(sub.height),  # ids are sorted, so this is the id order
        -sub["quality_score"].fill_null(0.0).to_numpy(),
        ~sub["released"].fill_null(False).to_numpy(),
    ))
    found = resolve(rank, np.ones(sub.height, np.bool_), np.zeros(sub.height, np.uint64), local_pairs, similarity,
                    settings.threshold)
    drop = np.flatnonzero(found.of >= 0)
    return pl.DataFrame(
        {
            "id": sub["draft_id"].gather(drop).to_list(),
            "domain": sub["domain"].gather(drop).to_list(),
            "near_dup_of": sub["draft_id"].gather(found.of[drop]).to_list(),
            "near_dup_domain": sub["domain"].gather(found.of[drop]).to_list(),
            "similarity": found.similarity[drop],
        },
        schema=columns,
    )
