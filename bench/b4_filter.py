"""B4: the whole filter stage on synthetic drafts with planted near duplicates.

    .venv/bin/python -m bench.b4_filter              # 100,000 drafts of ~400 words, 10% planted duplicates
    .venv/bin/python -m bench.b4_filter --docs 20000 # smaller

Prints docs/s of filter_drafts (Gopher scores, language ID, decontamination, exact and MinHash LSH
dedup), the same against a one-MinHash-object-per-document datasketch baseline (MinHash + MinHashLSH)
on a slice of the same drafts, recall of the planted pairs, and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
import polars as pl

from cosmo_assets.config import load_config
from cosmo_assets.filters import dedup
from cosmo_assets.filters.language import _model as language_model
from cosmo_assets.filters.text import tokenise
from cosmo_assets.stages import filtering

STOP = "the of and to a in is it that was for on as with by at from this which be are were an or its their has have".split()


def vocabulary(config_root) -> tuple[np.ndarray, np.ndarray]:
    """English words and their frequencies from the bundled knowledge bases, plus common function words."""
    counts: dict[str, int] = {}
    for path in sorted((config_root / "knowledge_base").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = " ".join([row["title"], row.get("description", "")] + [f["value"] for f in row["facts"]])
            for word in text.lower().replace(",", " ").replace(".", " ").split():
                if word.isalpha():
                    counts[word] = counts.get(word, 0) + 1
    for rank, word in enumerate(STOP):
        counts[word] = counts.get(word, 0) + 4000 // (rank + 1)
    words = np.array(sorted(counts))
    return words, np.array([counts[w] for w in words], np.float64)


def synthetic_drafts(n: int, words_per_doc: int, planted_share: float, seed: int, config_root):
    """n drafts; the last `planted_share` are copies of earlier drafts with 1 to 6 words replaced."""
    rng = np.random.default_rng(seed)
    vocab, freq = vocabulary(config_root)
    v = vocab.size
    ids = rng.choice(v, size=(n, words_per_doc), p=freq / freq.sum()).astype(np.int64)
    planted = int(n * planted_share)
    originals = rng.choice(n - planted, size=planted, replace=False)
    copies = np.arange(n - planted, n)
    ids[copies] = ids[originals]
    edits = rng.integers(1, 7, size=planted)
    for row, k in zip(copies, edits):
        positions = rng.choice(words_per_doc - 1, size=k, replace=False)
        ids[row, positions] = rng.integers(0, v, size=k)
    texts = render(ids, vocab)
    frame = pl.DataFrame({
        "draft_id": [f"d{i:06d}" for i in range(n)],
        "outline_id": "o", "seed_id": [f"s{i:06d}" for i in range(n)],
        "domain": "bench", "language": "en", "status": "ok",
    }).hstack(texts)
    return frame, np.stack([originals, copies], axis=1)


def render(ids: np.ndarray, vocab: np.ndarray) -> pl.DataFrame:
    """A `text` column from word ids (rows x words): a full stop every ~15 words, a paragraph every ~80."""
    import pyarrow as pa

    v = vocab.size
    n, words_per_doc = ids.shape
    # Token ids: word, word + "." (every ~15 words), word + ".\n\n" (every ~80 words).
    tokens = pl.Series(np.concatenate([vocab, np.char.add(vocab, "."), np.char.add(vocab, ".\n\n")]))
    marks = np.zeros(words_per_doc, np.int64)
    marks[14::15] = v
    marks[79::80] = 2 * v
    marks[-1] = v
    flat = tokens.gather((ids + marks).reshape(-1))
    offsets = np.concatenate([[0], np.cumsum(np.full(n, words_per_doc))])
    lists = pl.Series("words", pa.LargeListArray.from_arrays(pa.array(offsets), flat.to_arrow()))
    return pl.DataFrame({"w": lists}).select(text=pl.col("w").list.join(" ").str.replace_all("\n\n ", "\n\n"))


def datasketch_baseline(texts: list[str], settings) -> float:
    """One MinHash object per document (sha1 per shingle), inserted into and queried from MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    started = time.process_time()
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
    for i, text in enumerate(texts):
        words = text.lower().split()
        grams = {" ".join(words[j : j + settings.shingle_words]) for j in range(len(words) - settings.shingle_words + 1)}
        m = MinHash(num_perm=settings.num_perm, seed=settings.seed)
        m.update_batch([g.encode("utf-8") for g in grams])
        lsh.query(m)
        lsh.insert(str(i), m)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--planted", type=float, default=0.10)
    parser.add_argument("--baseline-docs", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    config = load_config()
    settings = config.filters
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")

    # Warm-up on a few drafts: numba compiles (or loads its cache) and the language model loads once.
    warm, _ = synthetic_drafts(200, args.words, args.planted, 1, config.root)
    filtering.filter_drafts(warm, settings, "en", benchmarks=filtering.load_benchmarks(config))
    language_model()

    started = time.perf_counter()
    frame, pairs = synthetic_drafts(args.docs, args.words, args.planted, args.seed, config.root)
    generated = time.perf_counter() - started
    print(f"generated {frame.height} drafts ({frame['text'].str.len_chars().mean():.0f} chars) in {generated:.1f} s")

    benchmarks = filtering.load_benchmarks(config)
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = filtering.filter_drafts(frame, settings, "en", benchmarks=benchmarks)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rate = frame.height / wall
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    # Recall: a planted pair is caught when one of the two is rejected as a duplicate of the other.
    dup_of = dict(outcome.rejected.select("draft_id", "near_dup_of").drop_nulls().iter_rows())
    ids = frame["draft_id"].to_list()
    caught = sum(dup_of.get(ids[b]) == ids[a] or dup_of.get(ids[a]) == ids[b] for a, b in pairs)
    fp = dedup.fingerprints(tokenise(frame[np.unique(pairs).tolist()].select("text")), settings.dedup)
    local = {int(r): k for k, r in enumerate(np.unique(pairs))}
    similarity = dedup.jaccard(fp, np.array([[local[int(a)], local[int(b)]] for a, b in pairs], np.int64))
    above = similarity >= settings.dedup.threshold

    slice_texts = frame["text"].head(args.baseline_docs).to_list()
    baseline_s = datasketch_baseline(slice_texts, settings.dedup)
    baseline_rate = len(slice_texts) / baseline_s
    started = time.perf_counter()
    identifier = language_model()[0]
    for text in slice_texts[:500]:
        identifier.classify(text[: settings.language_id_prefix_chars])
    langid_per_doc_ms = (time.perf_counter() - started) / 500 * 1e3

    from datasketch import MinHashLSH

    auto = MinHashLSH(threshold=settings.dedup.threshold, num_perm=settings.dedup.num_perm)
    b, r = settings.dedup.bands, settings.dedup.rows
    print(f"filter stage: {wall:.1f} s for {frame.height} drafts = {rate:,.0f} docs/s wall "
          f"(target >= 5,000); step seconds {json.dumps({k: round(v, 1) for k, v in outcome.seconds.items()})}")
    # On a shared machine wall time depends on the neighbours; CPU time of this process much less so.
    print(f"CPU time: {cpu:.1f} s = {frame.height / cpu:,.0f} docs per CPU-second")
    print(f"kept {outcome.kept.height}, rejected {outcome.rejected.height}: {filtering.reason_counts(outcome.rejected)}")
    print(f"baseline (datasketch MinHash object per doc + MinHashLSH, {len(slice_texts)} drafts): "
          f"{baseline_rate:,.0f} docs per CPU-second; whole filter stage / baseline = "
          f"{frame.height / cpu / baseline_rate:.1f}x (CPU time, both single process)")
    print(f"py3langid one text at a time: {langid_per_doc_ms:.2f} ms/doc on the first {settings.language_id_prefix_chars} chars")
    print(f"planted pairs: {len(pairs)}, exact Jaccard min {similarity.min():.3f} median {np.median(similarity):.3f}; "
          f"above threshold {settings.dedup.threshold}: {int(above.sum())}")
    print(f"recall of planted pairs above threshold: "
          f"{sum(c for c, a in zip([dup_of.get(ids[y]) == ids[x] or dup_of.get(ids[x]) == ids[y] for x, y in pairs], above) if a) / max(int(above.sum()), 1):.4f}"
          f" (all planted: {caught / len(pairs):.4f}; target >= 0.95)")
    print(f"LSH {b} bands x {r} rows: P(candidate | s=0.80) = {dedup.candidate_probability(0.8, b, r):.4f}; "
          f"datasketch automatic {auto.b} x {auto.r}: {dedup.candidate_probability(0.8, auto.b, auto.r):.4f}")
    print(f"peak memory (max RSS): {peak_gib:.2f} GiB (target < 4); load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
