"""The one storage path: stage tables in a DuckDB file (or a DuckLake, lake.py), written a whole partition at a time."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

FACT = "STRUCT(property VARCHAR, value VARCHAR)"

# Score columns shared by filtered_articles and rejected_drafts, so a reader compares like with like.
SCORE_COLUMNS: dict[str, str] = {
    "word_count": "INTEGER",
    "mean_word_length": "DOUBLE",
    "symbol_word_ratio": "DOUBLE",
    "punctuated_line_share": "DOUBLE",
    "duplicate_line_share": "DOUBLE",
    **{f"top_{n}gram_share": "DOUBLE" for n in (2, 3, 4)},
    **{f"duplicate_{n}gram_share": "DOUBLE" for n in range(5, 11)},
    "stop_word_count": "INTEGER",
    "non_alphabetic_word_share": "DOUBLE",
    "language_detected": "VARCHAR",
    "language_confidence": "DOUBLE",
    "section_coverage": "DOUBLE",
    "shape_fits": "BOOLEAN",
    "fact_coverage": "DOUBLE",
    "contradicted_facts": "VARCHAR[]",
    "judge_clarity": "INTEGER",
    "judge_accuracy": "INTEGER",
    "judge_educational_value": "INTEGER",
    "quality_score": "DOUBLE",
}

# Column order here is only for reading; rows are always inserted by name.
TABLES: dict[str, dict[str, str]] = {
    "seeds": {
        "seed_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "topic_type": "VARCHAR NOT NULL",
        "description": "VARCHAR",
        "facts": f"{FACT}[]",
        "keywords": "VARCHAR[]",
        "source": "VARCHAR NOT NULL",
        "source_id": "VARCHAR NOT NULL",
    },
    # Knowledge-base rows that could not become seeds, each with its reason (see knowledge_base/records.py).
    "seed_quarantine": {
        "quarantine_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "source": "VARCHAR NOT NULL",
        "path": "VARCHAR NOT NULL",
        "location": "VARCHAR NOT NULL",
        "source_id": "VARCHAR",
        "reason": "VARCHAR NOT NULL",
        "detail": "VARCHAR NOT NULL",
        "raw": "VARCHAR",
    },
    "outlines": {
        "outline_id": "VARCHAR NOT NULL",
        "seed_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "topic_type": "VARCHAR NOT NULL",
        "content_type": "VARCHAR NOT NULL",
        "audience": "VARCHAR NOT NULL",
        "style": "VARCHAR NOT NULL",
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
        "variant": "INTEGER NOT NULL",
        "sections": "VARCHAR[]",
        "required_facts": f"{FACT}[]",
        "prompt": "VARCHAR NOT NULL",
        "prompt_hash": "VARCHAR NOT NULL",
        "outline_source": "VARCHAR",
        "seed_source": "VARCHAR",
        "seed_source_id": "VARCHAR",
    },
    "drafts": {
        "draft_id": "VARCHAR NOT NULL",
        "outline_id": "VARCHAR NOT NULL",
        "seed_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "model": "VARCHAR NOT NULL",
        "text": "VARCHAR",
        "prompt_tokens": "INTEGER",
        "completion_tokens": "INTEGER",
        "cost_usd": "DOUBLE",
        "latency_s": "DOUBLE",
        "attempts": "INTEGER",
        "status": "VARCHAR NOT NULL",
        "error": "VARCHAR",
        "cache_hit": "BOOLEAN",
        "finish_reason": "VARCHAR",
    },
    "filtered_articles": {
        "draft_id": "VARCHAR NOT NULL",
        "outline_id": "VARCHAR NOT NULL",
        "seed_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "text": "VARCHAR NOT NULL",
        **SCORE_COLUMNS,
    },
    "rejected_drafts": {
        "draft_id": "VARCHAR NOT NULL",
        "outline_id": "VARCHAR NOT NULL",
        "seed_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "text": "VARCHAR",
        **SCORE_COLUMNS,
        "reject_reasons": "VARCHAR[] NOT NULL",
        "near_dup_of": "VARCHAR",
        "near_dup_similarity": "DOUBLE",
        "benchmark_match": "VARCHAR",  # '<benchmark>:<item id>' the draft reproduces
        "benchmark_overlap": "DOUBLE",
    },
    # Band keys of every kept article's MinHash signature: the persisted LSH index (filters/dedup.py).
    "minhash_index": {
        "draft_id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "params": "VARCHAR NOT NULL",  # shingle size, permutations, seed, bands, rows that made the keys
        "text_hash": "UBIGINT NOT NULL",
        "band": "SMALLINT NOT NULL",
        "band_key": "UBIGINT NOT NULL",
    },
    # Articles left out of a language's release because an article of another domain says the same.
    "near_duplicate_drops": {
        "id": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "near_dup_of": "VARCHAR NOT NULL",
        "near_dup_domain": "VARCHAR NOT NULL",
        "similarity": "DOUBLE NOT NULL",
    },
    "release_candidates": {
        "id": "VARCHAR NOT NULL",
        "text": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "topic_type": "VARCHAR NOT NULL",
        "content_type": "VARCHAR NOT NULL",
        "audience": "VARCHAR NOT NULL",
        "style": "VARCHAR NOT NULL",
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
        "seed_id": "VARCHAR NOT NULL",
        "model": "VARCHAR NOT NULL",
        "token_count": "INTEGER NOT NULL",
        "quality_score": "DOUBLE NOT NULL",
        "source": "VARCHAR NOT NULL",
        "sections": "VARCHAR[]",
        "seed_source": "VARCHAR",
        "seed_source_id": "VARCHAR",
        "text_key": "VARCHAR NOT NULL",
    },
    # Which candidates the quotas released, and why the others were left out (stages/quotas.py).
    "quota_allocation": {
        "id": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "selected": "BOOLEAN NOT NULL",
        "decision": "VARCHAR NOT NULL",
    },
    # Human-written text from the corpora in balance.yaml, mixed into releases as source = 'real'.
    "real_text": {
        "id": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "corpus": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "text": "VARCHAR NOT NULL",
        "topic_type": "VARCHAR",
        "content_type": "VARCHAR NOT NULL",
        "audience": "VARCHAR NOT NULL",
        "token_count": "INTEGER NOT NULL",
    },
    # Real-text rows have no style, template, seed, model or quality score: those stay NULL.
    "balanced_dataset": {
        "id": "VARCHAR NOT NULL",
        "text": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "topic_type": "VARCHAR",
        "content_type": "VARCHAR NOT NULL",
        "audience": "VARCHAR NOT NULL",
        "style": "VARCHAR",
        "template_id": "VARCHAR",
        "template_version": "VARCHAR",
        "seed_id": "VARCHAR",
        "model": "VARCHAR",
        "token_count": "INTEGER NOT NULL",
        "quality_score": "DOUBLE",
        "source": "VARCHAR NOT NULL",
        "sections": "VARCHAR[]",
        "seed_source": "VARCHAR",
        "seed_source_id": "VARCHAR",
    },
    "balance_composition": {
        "language": "VARCHAR NOT NULL",
        "dimension": "VARCHAR NOT NULL",
        "value": "VARCHAR NOT NULL",
        "candidates": "INTEGER NOT NULL",
        "supply": "INTEGER NOT NULL",
        "released": "INTEGER NOT NULL",
        "share": "DOUBLE NOT NULL",
    },
    "review_sample": {
        "id": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "content_type": "VARCHAR NOT NULL",
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
        "audience": "VARCHAR NOT NULL",
        "style": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
        "text": "VARCHAR NOT NULL",
    },
    # Every article ever sampled for review, so a verdict still finds its template after the
    # article itself is gone (e.g. because its template was left out of later runs).
    "review_sample_history": {
        "id": "VARCHAR NOT NULL",
        "language": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "content_type": "VARCHAR NOT NULL",
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
        "title": "VARCHAR NOT NULL",
    },
    "review_verdicts": {
        "id": "VARCHAR NOT NULL",
        "verdict": "VARCHAR NOT NULL",
        "note": "VARCHAR",
        "file": "VARCHAR NOT NULL",
        "row": "INTEGER NOT NULL",
        "language": "VARCHAR NOT NULL",
        "domain": "VARCHAR NOT NULL",
        "content_type": "VARCHAR NOT NULL",
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
    },
    "template_reviews": {
        "template_id": "VARCHAR NOT NULL",
        "template_version": "VARCHAR NOT NULL",
        "reviewed": "INTEGER NOT NULL",
        "accepted": "INTEGER NOT NULL",
        "accept_rate": "DOUBLE NOT NULL",
        "current": "BOOLEAN NOT NULL",
        "excluded": "BOOLEAN NOT NULL",
        "fed_partitions": "VARCHAR[] NOT NULL",
    },
}

# Which columns name a table's partition.
PARTITION_COLUMNS: dict[str, tuple[str, ...]] = {
    "seeds": ("domain", "language"),
    "seed_quarantine": ("domain", "language"),
    "outlines": ("domain", "language"),
    "drafts": ("domain", "language"),
    "filtered_articles": ("domain", "language"),
    "rejected_drafts": ("domain", "language"),
    "release_candidates": ("language",),
    "quota_allocation": ("language",),
    "real_text": ("language",),
    "balanced_dataset": ("language",),
    "balance_composition": ("language",),
    "review_sample": ("language",),
    # Whole tables, rewritten each time from the verdict files.
    "review_verdicts": (),
    "template_reviews": (),
    "minhash_index": ("domain", "language"),
    "near_duplicate_drops": ("language",),
}

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")

log = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """A frame does not fit its table, or the database could not be reached."""


class Storage:
    """A DuckDB file. Connections are held only for one read or one write, never across model calls,
    because DuckDB lets one process write a file at a time."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 300.0):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not self.path.exists():
            read_only = False  # a read-only connection cannot create the file
        started = time.monotonic()
        deadline = started + self.lock_timeout_s
        delay, waits = 0.05, 0
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                # Another process holds the write lock: wait for it rather than fail the partition.
                if not any(m in str(exc) for m in _LOCK_MARKERS) or time.monotonic() > deadline:
                    raise
                waits += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        if waits:
            # Shows in the Dagster run log (dagster.yaml python_logs): where time went when runs share the file.
            log.info("waited %.1f s for the DuckDB lock on %s (held by another process)", time.monotonic() - started, self.path)
        try:
            yield con
        finally:
            con.close()

    def replace_partition(self, table: str, frame: pl.DataFrame, partition: Mapping[str, str]) -> int:
        """Replace exactly the rows of one partition with `frame` (which may be empty); returns rows written."""
        _check_frame(table, frame, partition)
        where, params = _partition_filter(table, partition)

        def replace() -> None:
            with self.connect() as con:
                self.prepare(con, table)
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(f'DELETE FROM "{table}" WHERE {where}', params)
                    if frame.height:
                        con.register("incoming_rows", frame.to_arrow())
                        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_rows')
                        con.unregister("incoming_rows")
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise

        self.retrying(replace, f"{table} {dict(partition)}")
        return frame.height

    def retrying(self, write: Callable[[], Any], what: str) -> Any:
        """One whole write transaction; a lake (lake.py) runs it again when another writer's commit conflicts."""
        return write()

    def prepare(self, con: duckdb.DuckDBPyConnection, *tables: str) -> None:
        """A DuckDB file creates its tables on first use (a lake has them made up front, lake.py)."""
        create_tables(con, *tables)

    def insert_missing(self, table: str, frame: pl.DataFrame, key: str) -> int:
        """Add the rows whose `key` the table does not hold yet (for append-only tables); returns rows added."""
        _check_frame(table, frame, {})

        def insert() -> int:
            with self.connect() as con:
                self.prepare(con, table)
                if not frame.height:
                    return 0
                con.register("incoming_rows", frame.to_arrow())
                before = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_rows WHERE "{key}" NOT IN (SELECT "{key}" FROM "{table}")')
                con.unregister("incoming_rows")
                return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] - before

        return self.retrying(insert, table)

    def read_partition(self, table: str, partition: Mapping[str, str]) -> pl.DataFrame:
        where, params = _partition_filter(table, partition)
        return self.query(f'SELECT * FROM "{table}" WHERE {where}', params, table=table)

    def partition_digest(self, table: str, partition: Mapping[str, str]) -> tuple[int, str]:
        """How many rows a partition holds and a digest of their content: the same rows, in any order,
        give the same digest, so a re-made partition that did not change keeps its version."""
        where, params = _partition_filter(table, partition)
        with self.connect(read_only=True) as con:
            if not _table_exists(con, table):
                return 0, ""
            rows, digest = con.execute(
                f"""SELECT count(*), coalesce(md5(string_agg(row_hash, ',' ORDER BY row_hash)), '')
                    FROM (SELECT md5(CAST(t AS VARCHAR)) AS row_hash FROM "{table}" t WHERE {where})""",
                params,
            ).fetchone()
        return int(rows), str(digest)

    def query(self, sql: str, params: Mapping[str, Any] | None = None, table: str | None = None) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            if table and not _table_exists(con, table):
                return empty_frame(table)
            return con.execute(sql, dict(params or {})).pl()


@functools.cache
def frame_schema(table: str) -> pl.Schema:
    """The polars schema of a table, so stages build frames that insert without casts."""
    return empty_frame(table).schema


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the table's columns, for partitions that were never written."""
    con = duckdb.connect()
    try:
        create_tables(con, table)
        return con.execute(f'SELECT * FROM "{table}"').pl()
    finally:
        con.close()


def create_tables(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for table in tables or TABLES:
        columns = ", ".join(f'"{c}" {t}' for c, t in TABLES[table].items())
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({columns})')
        # A file made by an earlier version keeps its rows (drafts cost money); new columns start empty.
        present = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        for column, kind in TABLES[table].items():
            if column not in present:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind.replace("NOT NULL", "").strip()}')


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0])


def _partition_filter(table: str, partition: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    keys = PARTITION_COLUMNS[table]
    if set(partition) != set(keys):
        raise StorageError(f"{table}: a partition needs exactly {list(keys)}, got {sorted(partition)}")
    if not keys:  # an unpartitioned table is one partition
        return "TRUE", {}
    return " AND ".join(f'"{k}" = ${k}' for k in keys), {k: partition[k] for k in keys}


def _check_frame(table: str, frame: pl.DataFrame, partition: Mapping[str, str]) -> None:
    columns = TABLES[table]
    unknown = [c for c in frame.columns if c not in columns]
    if unknown:
        raise StorageError(f"{table}: columns {unknown} are not in the table; expected some of {list(columns)}")
    if frame.height == 0:
        return
    required = [c for c, t in columns.items() if "NOT NULL" in t]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise StorageError(f"{table}: required columns {missing} are missing from the frame")
    for key, value in partition.items():
        others = frame.filter(pl.col(key) != value).height
        if others:
            raise StorageError(f"{table}: {others} rows have {key} other than {value!r}, the partition being written")
