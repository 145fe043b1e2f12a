"""Exact and near duplicates across the chunks of one partition, with the LSH band keys kept in DuckDB.

Each chunk adds its rows' text hashes and band keys (table `bands`); once every chunk is in, candidate
pairs come from a join on equal band keys, their exact shingle Jaccard is computed a batch of pairs at a
time from the texts (re-shingled, never all held at once), and only the rows that have a twin (a
confirmed near pair or an equal text hash) are walked in memory by dedup.resolve. A row without a twin
is kept or not by the other rules alone, so the answer equals one walk over the whole partition.

The caller's DuckDB connection holds a table `scored` with `row`, `draft_id`, `text`, `text_hash`,
`quality_score` and `eligible` (passes every other rule).
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from cosmo_assets.config import DedupSettings
from cosmo_assets.filters import dedup, kernels
from cosmo_assets.filters.text import shingles, tokenise

PAIR_BATCH = 20_000  # candidate pairs whose texts are shingled at once
TWIN_COLUMNS = {"row": pl.Int64, "near_dup_of": pl.String, "exact": pl.Boolean, "similarity": pl.Float64}


def create(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE bands (row BIGINT, text_hash UBIGINT, band SMALLINT, key UBIGINT)")


def add(con: duckdb.DuckDBPyConnection, rows: np.ndarray, fp: dedup.Fingerprints) -> None:
    """Store the band keys of `rows` (global row numbers of the fingerprinted chunk, in order)."""
    has = fp.has_shingles
    long = pl.DataFrame({
        "row": np.repeat(rows[has], fp.band_keys.shape[1]),
        "text_hash": np.repeat(fp.text_hash[has], fp.band_keys.shape[1]),
        "band": np.tile(np.arange(fp.band_keys.shape[1], dtype=np.int16), int(has.sum())),
        "key": fp.band_keys[has].reshape(-1),
    })
    con.register("incoming_bands", long.to_arrow())
    con.execute("INSERT INTO bands SELECT * FROM incoming_bands")
    con.unregister("incoming_bands")


def _confirm(con: duckdb.DuckDBPyConnection, settings: DedupSettings) -> None:
    """Table `near` (left_row, right_row, similarity) of the candidate pairs at or above the threshold."""
    # Rows of equal text hash are exact twins, decided by the hash alone: their pairs cannot change the walk.
    con.execute("""
        CREATE TABLE candidates AS
        WITH shared AS (SELECT band, key FROM bands GROUP BY band, key HAVING count(*) > 1),
             pairs AS (SELECT DISTINCT a.row AS left_row, b.row AS right_row
                       FROM bands a JOIN shared USING (band, key) JOIN bands b USING (band, key)
                       WHERE a.row < b.row AND a.text_hash <> b.text_hash)
        SELECT row_number() OVER (ORDER BY left_row, right_row) AS k, left_row, right_row FROM pairs
    """)
    con.execute("CREATE TABLE near (left_row BIGINT, right_row BIGINT, similarity DOUBLE)")
    total = con.execute("SELECT count(*) FROM candidates").fetchone()[0]
    for start in range(0, total, PAIR_BATCH):
        batch = con.execute(
            "SELECT left_row, right_row FROM candidates WHERE k > $start AND k <= $stop ORDER BY k",
            {"start": start, "stop": start + PAIR_BATCH},
        ).pl()
        _confirm_batch(con, batch, settings)


def _confirm_batch(con: duckdb.DuckDBPyConnection, batch: pl.DataFrame, settings: DedupSettings) -> None:
    left, right = batch["left_row"].to_numpy(), batch["right_row"].to_numpy()
    involved = np.unique(np.concatenate([left, right]))
    con.register("wanted_rows", pl.DataFrame({"row": involved}).to_arrow())
    texts = con.execute("SELECT s.row, s.text FROM scored s SEMI JOIN wanted_rows w USING (row) ORDER BY s.row").pl()
    con.unregister("wanted_rows")
    grams, offsets = shingles(tokenise(texts.select("text"))["word_keys"], settings.shingle_words)
    local = np.searchsorted(texts["row"].to_numpy(), involved)
    position = dict(zip(involved.tolist(), local.tolist()))
    i = np.array([position[r] for r in left.tolist()], np.int64)
    j = np.array([position[r] for r in right.tolist()], np.int64)
    similarity = kernels.pair_jaccard(grams, offsets, i, j)
    confirmed = similarity >= settings.threshold
    found = pl.DataFrame({"left_row": left[confirmed], "right_row": right[confirmed], "similarity": similarity[confirmed]})
    con.register("confirmed", found.to_arrow())
    con.execute("INSERT INTO near SELECT * FROM confirmed")
    con.unregister("confirmed")


def resolve(con: duckdb.DuckDBPyConnection, settings: DedupSettings) -> None:
    """Table `twins` (row, near_dup_of, exact, similarity): every row that is a duplicate of a kept one.

    The walk order is dedup.resolve's: quality score, then draft id, then arrival.
    """
    _confirm(con, settings)
    twins = con.execute("""
        WITH repeated AS (SELECT text_hash FROM scored WHERE text_hash <> 0 GROUP BY text_hash HAVING count(*) > 1),
             ends AS (SELECT left_row AS row FROM near UNION SELECT right_row FROM near)
        SELECT row, draft_id, quality_score, eligible, text_hash FROM scored
        WHERE text_hash IN (SELECT text_hash FROM repeated) OR row IN (SELECT row FROM ends)
        ORDER BY row
    """).pl()
    con.execute("CREATE TABLE twins (row BIGINT, near_dup_of VARCHAR, exact BOOLEAN, similarity DOUBLE)")
    if twins.height == 0:
        return
    rows = twins["row"].to_numpy()
    near = con.execute("SELECT left_row, right_row, similarity FROM near ORDER BY left_row, right_row").pl()
    pairs = np.stack([np.searchsorted(rows, near["left_row"].to_numpy()),
                      np.searchsorted(rows, near["right_row"].to_numpy())], axis=1).astype(np.int64)
    rank = np.lexsort((twins["draft_id"].to_numpy(), -twins["quality_score"].to_numpy()))
    found = dedup.resolve(rank, twins["eligible"].to_numpy(), twins["text_hash"].to_numpy(), pairs,
                          near["similarity"].to_numpy(), settings.threshold)
    duplicate = np.flatnonzero(found.of >= 0)
    frame = pl.DataFrame({
        "row": rows[duplicate],
        "near_dup_of": twins["draft_id"].gather(found.of[duplicate]),
        "exact": found.exact[duplicate],
        "similarity": found.similarity[duplicate],
    }, schema=TWIN_COLUMNS)
    con.register("found_twins", frame.to_arrow())
    con.execute("INSERT INTO twins SELECT * FROM found_twins")
    con.unregister("found_twins")
