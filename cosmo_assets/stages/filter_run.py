"""One partition filtered a chunk of drafts at a time, so peak memory follows the chunk, not the partition.

Each chunk is scored (filtering.score_chunk) and its rows and MinHash band keys go to a scratch DuckDB
file with a memory limit (it spills to disk beyond it); once every chunk is in, duplicates are resolved
across all of them (dedup_store.py), and kept articles, rejected drafts and index rows are read back a
chunk at a time, for a frame or for a partition replace in storage.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from cosmo_assets.config import FilterSettings
from cosmo_assets.filters import decontamination, dedup, dedup_store
from cosmo_assets.schemas import TABLES
from cosmo_assets.stages import filtering
from cosmo_assets.storage import CHUNK_READ_MEMORY_LIMIT, Storage, empty_frame, frame_schema

SCRATCH_MEMORY_LIMIT = "512MB"  # DuckDB's share of the scratch work; it spills to the scratch folder beyond
_INDEX_SCHEMA = {"draft_id": pl.String, "text_hash": pl.UInt64, "band": pl.Int16, "band_key": pl.UInt64}
_DUPLICATE_OF = ("near_dup_of", "near_dup_similarity")  # set by the duplicate step, not stored while scoring


def _scratch_columns() -> dict[str, str]:
    columns = {**TABLES["filtered_articles"], **TABLES["rejected_drafts"]}
    stored = {c: t.replace("NOT NULL", "").strip() for c, t in columns.items() if c not in _DUPLICATE_OF}
    return {"row": "BIGINT", **stored, "text_hash": "UBIGINT", "eligible": "BOOLEAN"}


class FilterRun:
    """`add` each chunk of drafts, `resolve` once, then read `kept`, `rejected` and `index` back in chunks.

    Use it as a context manager: the scratch folder goes when the run ends.
    """

    def __init__(self, settings: FilterSettings, language: str,
                 benchmarks: decontamination.BenchmarkIndex | None = None, memory_limit: str = SCRATCH_MEMORY_LIMIT):
        self.settings, self.language, self.benchmarks = settings, language, benchmarks
        self.memory_limit = memory_limit
        self.rows = 0
        self.seconds: dict[str, float] = {}
        self.columns = _scratch_columns()

    def __enter__(self) -> FilterRun:
        self._folder = tempfile.TemporaryDirectory(prefix="cosmo-filter-")
        folder = Path(self._folder.name)
        self.con = duckdb.connect(str(folder / "scratch.duckdb"))
        self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
        self.con.execute(f"SET temp_directory = '{folder / 'spill'}'")
        columns = ", ".join(f'"{c}" {t}' for c, t in self.columns.items())
        self.con.execute(f"CREATE TABLE scored ({columns})")
        dedup_store.create(self.con)
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()
        self._folder.cleanup()

    def add(self, drafts: pl.DataFrame, outlines: pl.DataFrame | None = None, judge: filtering.Judge | None = None) -> None:
        scored = filtering.score_chunk(drafts, self.settings, self.language, outlines, self.benchmarks, judge, self.seconds)
        started = time.perf_counter()
        fp = dedup.fingerprints(scored, self.settings.dedup)
        rows = np.arange(self.rows, self.rows + scored.height, dtype=np.int64)
        spilled = scored.with_columns(
            row=pl.Series(rows), text_hash=pl.Series(fp.text_hash, dtype=pl.UInt64),
            eligible=pl.col("reject_reasons").list.len() == 0,
        ).select(list(self.columns))
        self.con.register("incoming_rows", spilled.to_arrow())
        self.con.execute("INSERT INTO scored BY NAME SELECT * FROM incoming_rows")
        self.con.unregister("incoming_rows")
        dedup_store.add(self.con, rows, fp)
        self.rows += scored.height
        filtering.timed(self.seconds, "dedup", started)

    def resolve(self) -> None:
        """Find exact and near duplicates across every chunk added."""
        started = time.perf_counter()
        dedup_store.resolve(self.con, self.settings.dedup)
        filtering.timed(self.seconds, "dedup", started)

    def _ranges(self, chunk_rows: int) -> Iterator[dict[str, int]]:
        for start in range(0, self.rows, chunk_rows):
            yield {"start": start, "stop": start + chunk_rows}

    def kept(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """filtered_articles rows, in the order drafts were added."""
        schema = frame_schema("filtered_articles")
        for bounds in self._ranges(chunk_rows):
            frame = self.con.execute(
                "SELECT * FROM scored WHERE eligible AND row >= $start AND row < $stop "
                "AND row NOT IN (SELECT row FROM twins) ORDER BY row", bounds).pl()
            yield frame.select(list(schema)).cast(schema)

    def rejected(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """rejected_drafts rows with every reason, duplicates included, in the order drafts were added."""
        schema = frame_schema("rejected_drafts")
        for bounds in self._ranges(chunk_rows):
            frame = self.con.execute(
                "SELECT s.*, t.near_dup_of, t.exact, t.similarity AS near_dup_similarity FROM scored s "
                "LEFT JOIN twins t USING (row) WHERE s.row >= $start AND s.row < $stop "
                "AND (NOT s.eligible OR t.near_dup_of IS NOT NULL) ORDER BY s.row", bounds).pl()
            reason = (pl.when(pl.col("exact")).then(pl.lit(filtering.EXACT_DUPLICATE))
                      .when(pl.col("near_dup_of").is_not_null()).then(pl.lit(filtering.NEAR_DUPLICATE))
                      .otherwise(pl.lit(None, pl.String)))
            frame = frame.with_columns(reject_reasons=pl.concat_list("reject_reasons", reason).list.drop_nulls())
            yield frame.select(list(schema)).cast(schema)

    def index(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """Band keys of the kept articles (draft_id, text_hash, band, band_key)."""
        for bounds in self._ranges(chunk_rows):
            frame = self.con.execute(
                "SELECT s.draft_id, b.text_hash, b.band, b.key AS band_key FROM bands b JOIN scored s USING (row) "
                "WHERE s.eligible AND b.row >= $start AND b.row < $stop AND s.row >= $start AND s.row < $stop "
                "AND b.row NOT IN (SELECT row FROM twins) "
                "ORDER BY b.row, b.band", bounds).pl()
            yield frame.cast(_INDEX_SCHEMA)

    @staticmethod
    def index_schema() -> pl.DataFrame:
        return pl.DataFrame(schema=_INDEX_SCHEMA)

    def summary(self) -> PartitionSummary:
        """What the asset reports, counted in the scratch database rather than from frames in memory."""
        con = self.con
        kept, mean = con.execute(
            "SELECT count(*), avg(quality_score) FROM scored WHERE eligible AND row NOT IN (SELECT row FROM twins)").fetchone()
        counts = dict(con.execute(
            "SELECT reason, count(*) FROM (SELECT unnest(reject_reasons) AS reason FROM scored) GROUP BY reason").fetchall())
        exact, near = con.execute("SELECT count(*) FILTER (WHERE exact), count(*) FILTER (WHERE NOT exact) FROM twins").fetchone()
        counts.update({filtering.EXACT_DUPLICATE: exact, filtering.NEAR_DUPLICATE: near})
        matches = dict(con.execute(
            "SELECT draft_id, benchmark_match FROM scored WHERE benchmark_match IS NOT NULL ORDER BY row").fetchall())
        return PartitionSummary(
            drafts=self.rows, kept=int(kept), mean_quality_score=float(mean or 0.0),
            reject_reasons={r: int(counts[r]) for r in filtering.REASONS if counts.get(r)},
            benchmark_matches=matches, seconds=dict(self.seconds),
        )


@dataclass
class PartitionSummary:
    drafts: int
    kept: int
    mean_quality_score: float
    reject_reasons: dict[str, int]
    benchmark_matches: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.drafts - self.kept


def draft_chunks(storage: Storage, partition: Mapping[str, str], chunk_rows: int) -> Iterator[pl.DataFrame]:
    """A partition's drafts `chunk_rows` at a time in draft-id order, in memory bounded by a chunk (Storage.read_chunks)."""
    part = {"domain": partition["domain"], "language": partition["language"]}
    yield from storage.read_chunks("drafts", part, chunk_rows, "draft_id")


def outlines_for(storage: Storage, partition: Mapping[str, str], drafts: pl.DataFrame) -> pl.DataFrame:
    """The outlines of a chunk of drafts, with their seeds' facts and description (filtering.with_seed_facts)."""
    where = 'domain = $domain AND language = $language'
    part = {"domain": partition["domain"], "language": partition["language"]}
    outline_ids = drafts["outline_id"].unique().drop_nulls().to_list()
    outlines = _read(storage, "outlines", f'SELECT * FROM "outlines" WHERE {where} AND outline_id IN (SELECT unnest($ids))',
                     {**part, "ids": outline_ids})
    seeds = _read(storage, "seeds", f'SELECT * FROM "seeds" WHERE {where} AND seed_id IN (SELECT unnest($ids))',
                  {**part, "ids": outlines["seed_id"].unique().drop_nulls().to_list()})
    return filtering.with_seed_facts(outlines, seeds)


def _read(storage: Storage, table: str, sql: str, params: Mapping[str, object]) -> pl.DataFrame:
    """One short read under CHUNK_READ_MEMORY_LIMIT (DuckDB's buffer pool would otherwise keep every block the
    scan of a large partition touched); a table never written reads as empty."""
    with storage.connect(read_only=True) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0]:
            return empty_frame(table)
        con.execute(f"SET memory_limit = '{CHUNK_READ_MEMORY_LIMIT}'")
        return con.execute(sql, dict(params)).pl()


def filter_partition(
    storage: Storage,
    partition: Mapping[str, str],
    settings: FilterSettings,
    benchmarks: decontamination.BenchmarkIndex | None = None,
    judge_for: Callable[[pl.DataFrame], filtering.Judge] | None = None,
) -> PartitionSummary:
    """Filter one stored partition of drafts `settings.chunk_rows` at a time and replace its
    filtered_articles, rejected_drafts and minhash_index partitions; `judge_for(outlines)` gives the
    model judge for a chunk (None: no judge)."""
    chunk_rows = settings.chunk_rows
    with FilterRun(settings, partition["language"], benchmarks) as run:
        for drafts in draft_chunks(storage, partition, chunk_rows):
            outlines = outlines_for(storage, partition, drafts)
            run.add(drafts, outlines, judge_for(outlines) if judge_for else None)
        run.resolve()
        started = time.perf_counter()
        storage.replace_partition("filtered_articles", lambda: run.kept(chunk_rows), partition)
        storage.replace_partition("rejected_drafts", lambda: run.rejected(chunk_rows), partition)
        storage.replace_partition("minhash_index", lambda: (
            filtering.index_frame(frame, settings, partition["domain"], partition["language"])
            for frame in run.index(chunk_rows)), partition)
        filtering.timed(run.seconds, "write", started)
        return run.summary()

