"""How varied a set of texts is (distinct 4-gram share, opening repetition, stock-phrase rate, mean pairwise
MinHash similarity), which pairs nearly repeat, and which figures cross the configured floors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cosmo_assets.ids import content_hash

if TYPE_CHECKING:
    from datasketch import MinHash

NGRAM = 4
NUM_PERM = 128
_MAX_PAIRWISE_TEXTS = 400  # 80k pairs; larger partitions are sampled, deterministically
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(text: str, n: int = NGRAM) -> list[str]:
    tokens = words(text)
    if len(tokens) < n:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_ngram_share(texts: Sequence[str], n: int = NGRAM) -> float:
    """Distinct word n-grams over all n-grams of the texts: 1.0 when nothing repeats, lower as text is reused."""
    grams = [g for t in texts for g in ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def signatures(texts: Sequence[str]) -> list[MinHash]:
    from datasketch import MinHash  # imported here: it pulls scipy, seconds the Dagster definitions need not wait

    shingles = [[g.encode("utf-8") for g in set(ngrams(t))] or [b""] for t in texts]
    return list(MinHash.bulk(shingles, num_perm=NUM_PERM, seed=1))


def mean_pairwise_similarity(hashes: Sequence[MinHash], salt: object = 0) -> float:
    """Mean estimated Jaccard similarity over all pairs (0: nothing shared, 1: all alike)."""
    if len(hashes) < 2:
        return 0.0
    index = list(range(len(hashes)))
    if len(index) > _MAX_PAIRWISE_TEXTS:
        index = sorted(index, key=lambda i: content_hash(salt, i))[:_MAX_PAIRWISE_TEXTS]
    values = np.stack([hashes[i].hashvalues for i in index])
    total, pairs = 0.0, 0
    for i in range(len(index) - 1):
        same = (values[i + 1:] == values[i]).mean(axis=1)
        total += float(same.sum())
        pairs += len(same)
    return total / pairs


def near_duplicates(keys: Sequence[str], hashes: Sequence[MinHash], threshold: float) -> list[dict]:
    """Pairs whose estimated Jaccard similarity reaches `threshold`, each pair once, most similar first."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for key, h in zip(keys, hashes):
        lsh.insert(key, h)
    position = {k: i for i, k in enumerate(keys)}
    found = {}
    for key, h in zip(keys, hashes):
        for other in lsh.query(h):
            if other == key:
                continue
            pair = tuple(sorted((key, other)))
            if pair not in found:
                similarity = float(h.jaccard(hashes[position[other]]))
                if similarity >= threshold:
                    found[pair] = similarity
    return [{"a": a, "b": b, "similarity": round(s, 3)} for (a, b), s in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]


def opening_repetition(texts: Sequence[str], opening_words: int = 5) -> float:
    """Share of the texts whose opening (first `opening_words` words) another text also opens with:
    0 when every text starts its own way, near 1 when they all start alike."""
    openings = Counter(" ".join(words(t)[:opening_words]) for t in texts)
    return sum(n for n in openings.values() if n > 1) / len(texts) if texts else 0.0


def stock_phrase_counts(texts: Sequence[str], phrases: Sequence[str]) -> tuple[int, dict[str, int]]:
    """(stock phrases said in all, texts that say each phrase) for the phrases of one language's list."""
    normalised = [" ".join(words(t)) for t in texts]
    total, carrying = 0, {}
    for phrase in phrases:
        pattern = re.compile(r"\b" + re.escape(" ".join(words(phrase))) + r"\b")
        hits = [len(pattern.findall(t)) for t in normalised]
        total += sum(hits)
        if any(hits):
            carrying[phrase] = sum(1 for h in hits if h)
    return total, carrying


def diversity_figures(texts: Sequence[str | None], stock_phrases: Sequence[str] = (), opening_words: int = 5) -> dict:
    """The figures a partition reports for its prompts, drafts or released articles. `stock_phrase_rate` is
    stock phrases per 1,000 words; `stock_phrases` the texts saying each one, most said first (top 10)."""
    kept = [t for t in texts if t]
    said, carrying = stock_phrase_counts(kept, stock_phrases)
    word_count = sum(len(words(t)) for t in kept)
    return {
        "texts": len(kept),
        "distinct_4gram_share": round(distinct_ngram_share(kept), 4),
        "mean_pairwise_minhash_similarity": round(mean_pairwise_similarity(signatures(kept)), 4) if len(kept) > 1 else 0.0,
        "opening_repetition": round(opening_repetition(kept, opening_words), 4),
        "stock_phrase_rate": round(1000 * said / word_count, 3) if word_count else 0.0,
        "stock_phrases": dict(sorted(carrying.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
    }


def grouped_figures(groups: Mapping[str, Sequence[str]], stock_phrases: Sequence[str] = (), opening_words: int = 5) -> dict:
    """The figures of every text together ("all") and of each group (e.g. a release's domains)."""
    every = [t for texts in groups.values() for t in texts]
    figures = {"all": diversity_figures(every, stock_phrases, opening_words)}
    figures.update({g: diversity_figures(texts, stock_phrases, opening_words) for g, texts in sorted(groups.items())})
    return figures


# Each floor and the figure it bounds: a `min_` floor fails below it, a `max_` ceiling above it.
FLOORS = {
    "min_distinct_4gram_share": "distinct_4gram_share",
    "max_mean_pairwise_minhash_similarity": "mean_pairwise_minhash_similarity",
    "max_opening_repetition": "opening_repetition",
    "max_stock_phrase_rate": "stock_phrase_rate",
}


def below_floors(figures: Mapping[str, object], floors: Mapping[str, float | None], min_texts: int) -> list[str]:
    """What falls short in `figures`, one line per floor crossed; none when there are fewer than
    `min_texts` texts (a handful of texts says little about variety)."""
    if int(figures.get("texts", 0)) < min_texts:
        return []
    short = []
    for floor, figure in FLOORS.items():
        limit, value = floors.get(floor), figures.get(figure)
        if limit is None or value is None:
            continue
        if (floor.startswith("min_") and value < limit) or (floor.startswith("max_") and value > limit):
            short.append(f"{figure} {value} {'below' if floor.startswith('min_') else 'above'} {floor} {limit}")
    return short
