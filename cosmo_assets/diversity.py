"""How varied a set of texts is (distinct 4-gram share, mean pairwise MinHash similarity) and which pairs nearly repeat."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def diversity_figures(texts: Sequence[str | None]) -> dict:
    """The figures a partition reports for its prompts or drafts."""
    kept = [t for t in texts if t]
    return {
        "texts": len(kept),
        "distinct_4gram_share": round(distinct_ngram_share(kept), 4),
        "mean_pairwise_minhash_similarity": round(mean_pairwise_similarity(signatures(kept)), 4) if len(kept) > 1 else 0.0,
    }
