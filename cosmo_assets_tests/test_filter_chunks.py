"""A partition filtered a few drafts at a time decides every draft as one pass over all of them would."""

from __future__ import annotations

import random

import polars as pl
from polars.testing import assert_frame_equal

from cosmo_assets.config import FilterSettings
from cosmo_assets.stages import filter_run, filtering
from cosmo_assets.storage import Storage, frame_schema

WORDS = (
    "river mountain village farmer harvest winter summer market bridge forest valley island harbour merchant "
    "teacher library garden kitchen window letter journey station castle temple desert ocean cloud storm "
    "morning evening season family friend neighbour stone copper silver cotton wheat barley orchard meadow "
    "travel gather carry follow listen remember explain discover protect measure record describe"
).split()
SETTINGS = FilterSettings(min_words=20, max_words=400, min_section_coverage=0.5, min_fact_coverage=0.5)


def article(rng: random.Random) -> str:
    """About 120 words of plain English sentences, different from any other call's."""
    sentences = []
    for _ in range(12):
        picked = rng.sample(WORDS, 6)
        sentences.append(f"The {picked[0]} and the {picked[1]} of the {picked[2]} were {picked[3]} with {picked[4]} {picked[5]}.")
    return " ".join(sentences)


def planted_partition() -> tuple[pl.DataFrame, dict[str, str]]:
    """40 drafts: 28 articles, 10 near copies of the first ten (a word or two changed) and 2 exact copies,
    placed so that each copy lands in a later chunk of 7 than its original. Returns (drafts, copy -> original)."""
    rng = random.Random(13)
    texts = [article(rng) for _ in range(28)]
    copies = {}
    for k in range(10):
        words = texts[k].split(" ")
        for position in rng.sample(range(len(words) - 1), 1 + k % 2):
            words[position] = rng.choice(WORDS)
        texts.append(" ".join(words))
        copies[f"d{28 + k:02d}"] = f"d{k:02d}"
    texts += [texts[11], texts[12]]
    copies.update({"d38": "d11", "d39": "d12"})
    n = len(texts)
    frame = pl.DataFrame({
        "draft_id": [f"d{i:02d}" for i in range(n)], "outline_id": [f"o{i}" for i in range(n)],
        "seed_id": [f"s{i}" for i in range(n)], "domain": ["geo"] * n, "language": ["en"] * n,
        "status": ["ok"] * n, "text": texts,
    })
    return frame, copies


def test_chunks_of_seven_decide_like_one_chunk_of_forty():
    frame, copies = planted_partition()
    whole = filtering.filter_drafts(frame, SETTINGS, "en", chunk_rows=40)
    chunked = filtering.filter_drafts(frame, SETTINGS, "en", chunk_rows=7)
    assert_frame_equal(chunked.kept, whole.kept)
    assert_frame_equal(chunked.rejected, whole.rejected)
    assert_frame_equal(chunked.index, whole.index)
    # What the equality is worth: every planted pair is caught across chunks, one of the two naming the other.
    found = dict(chunked.rejected.select("draft_id", "near_dup_of").drop_nulls().iter_rows())
    assert {frozenset(pair) for pair in found.items()} == {frozenset(pair) for pair in copies.items()}
    assert len(found) == 12 and whole.kept.height == 28
    assert filtering.reason_counts(chunked.rejected) == {"exact_duplicate": 2, "near_duplicate": 10}
    assert all(int(a[1:]) // 7 != int(b[1:]) // 7 for a, b in found.items())


def test_a_stored_partition_is_filtered_in_chunks_and_replaced_whole(tmp_path):
    frame, _ = planted_partition()
    storage = Storage(tmp_path / "cosmo.duckdb")
    part = {"domain": "geo", "language": "en"}
    stored = frame.with_columns(model=pl.lit("fake/model")).sample(fraction=1.0, shuffle=True, seed=3)
    storage.replace_partition("drafts", stored, part)  # stored in another order than the ids
    expected = filtering.filter_drafts(frame, SETTINGS, "en")

    summary = filter_run.filter_partition(storage, part, SETTINGS.model_copy(update={"chunk_rows": 7}))

    kept = storage.read_partition("filtered_articles", part).sort("draft_id")
    rejected = storage.read_partition("rejected_drafts", part).sort("draft_id")
    assert_frame_equal(kept, expected.kept.sort("draft_id"), check_dtypes=False)
    assert_frame_equal(rejected, expected.rejected.sort("draft_id"), check_dtypes=False)
    index = storage.read_partition("minhash_index", part).sort("draft_id", "band")
    assert index.select(list(expected.index.columns)).equals(expected.index.sort("draft_id", "band"))
    assert (summary.drafts, summary.kept, summary.rejected) == (40, 28, 12)
    assert summary.reject_reasons == {"exact_duplicate": 2, "near_duplicate": 10}
    assert set(frame_schema("rejected_drafts")) == set(rejected.columns)


def test_drafts_are_read_in_id_order_chunks_of_their_partition_only(tmp_path):
    frame, _ = planted_partition()
    storage = Storage(tmp_path / "cosmo.duckdb")
    assert list(filter_run.draft_chunks(storage, {"domain": "geo", "language": "en"}, 7)) == []  # no drafts table yet
    shuffled = frame.with_columns(model=pl.lit("fake/model")).sample(fraction=1.0, shuffle=True, seed=5)
    storage.replace_partition("drafts", shuffled, {"domain": "geo", "language": "en"})
    storage.replace_partition("drafts", shuffled.with_columns(language=pl.lit("fr")), {"domain": "geo", "language": "fr"})
    for size in (7, 8, 40, 41):
        chunks = list(filter_run.draft_chunks(storage, {"domain": "geo", "language": "en"}, size))
        assert [c.height for c in chunks] == [min(size, 40 - k) for k in range(0, 40, size)]
        ids = pl.concat(chunks)["draft_id"].to_list()
        assert ids == sorted(frame["draft_id"].to_list()) and set(pl.concat(chunks)["language"]) == {"en"}
