"""The one storage path: stage tables in a DuckDB file (or a DuckLake, lake.py), written a whole partition at a time.

The tables' columns and partition keys are in schemas.py (re-exported here)."""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pyarrow as pa

from cosmo_assets.schemas import FACT, PARTITION_COLUMNS, SCORE_COLUMNS, TABLES

__all__ = [
    "FACT", "PARTITION_COLUMNS", "SCORE_COLUMNS", "TABLES", "Storage", "StorageError", "create_tables", "empty_frame", "frame_schema",
]

if TYPE_CHECKING:
    from dagster_duckdb import DuckDBResource

STREAMED_WRITE_MEMORY = "512MB"  # DuckDB's share of a partition replaced a chunk at a time
CHUNK_READ_MEMORY_LIMIT = "256MB"  # DuckDB's share of reading one chunk (its buffer pool would keep every block read)
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")

log = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """A frame does not fit its table, or the database could not be reached."""


class Storage:
    """A DuckDB database, reached through dagster-duckdb's DuckDBResource (the resource the Dagster UI
    shows). Connections are held only for one read or one write, never across model calls, because
    DuckDB lets one process write a file at a time; readers open it read-only so runs can read at once."""

    def __init__(self, database: str | Path | DuckDBResource, lock_timeout_s: float = 300.0):
        from dagster_duckdb import DuckDBResource  # dagster: only where a connection is made

        self.database = database if isinstance(database, DuckDBResource) else DuckDBResource(database=str(database))
        self.path = Path(self.database.database)
        self.lock_timeout_s = lock_timeout_s
        self._reader = DuckDBResource(
            database=self.database.database, connection_config={**self.database.connection_config, "access_mode": "READ_ONLY"}
        )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not self.path.exists():
            read_only = False  # a read-only connection cannot create the file
        resource = self._reader if read_only else self.database
        started = time.monotonic()
        while True:
            connection = resource.get_connection()  # retries a held lock itself, for a while
            try:
                con = connection.__enter__()
                break
            except duckdb.IOException as exc:
                # Another process holds the write lock for longer: wait for it rather than fail the partition.
                if not any(m in str(exc) for m in _LOCK_MARKERS) or time.monotonic() > started + self.lock_timeout_s:
                    raise
        waited = time.monotonic() - started
        if waited > 0.05:
            # Shows in the Dagster run log (dagster.yaml python_logs): where time went when runs share the file.
            log.info("waited %.1f s for the DuckDB lock on %s (held by another process)", waited, self.path)
        try:
            yield con
        finally:
            connection.__exit__(None, None, None)  # closes the connection

    def replace_partition(
        self, table: str, frame: pl.DataFrame | Callable[[], Iterable[pl.DataFrame]], partition: Mapping[str, str]
    ) -> int:
        """Replace exactly the rows of one partition with `frame` (which may be empty), or with the chunks a
        callable yields (called again if the transaction is retried), in one transaction; returns rows written."""
        if isinstance(frame, pl.DataFrame):
            _check_frame(table, frame, partition)
        chunks = (lambda: [frame]) if isinstance(frame, pl.DataFrame) else frame
        where, params = _partition_filter(table, partition)

        def replace() -> int:
            written = 0
            with self.connect() as con:
                self.prepare(con, table)
                if not isinstance(frame, pl.DataFrame):
                    # Rows written in one transaction stay in DuckDB's buffer pool up to its memory limit (80% of
                    # the machine by default): capped, they go to disk, and a large partition's write stays small.
                    con.execute(f"SET memory_limit = '{STREAMED_WRITE_MEMORY}'")
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(f'DELETE FROM "{table}" WHERE {where}', params)
                    batches = _checked_batches(table, chunks(), partition)
                    if batches is not None:
                        # One INSERT reading every chunk: DuckDB writes the rows out as they come.
                        con.register("incoming_rows", batches)
                        written = con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_rows').fetchone()[0]
                        con.unregister("incoming_rows")
                    con.execute("COMMIT")
                except Exception:
                    _roll_back(con)
                    raise
            return written

        return self.retrying(replace, f"{table} {dict(partition)}")

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

    def read_chunks(self, table: str, partition: Mapping[str, str], chunk_rows: int, key: str,
                    memory_limit: str = CHUNK_READ_MEMORY_LIMIT) -> Iterator[pl.DataFrame]:
        """A partition `chunk_rows` rows at a time in the order of its unique column `key`, in memory bounded by a
        chunk at any partition size. Each chunk is its own short read under a DuckDB memory cap, in two steps: the
        chunk's last key (a scan of the key column alone), then the rows up to it. (One query ordering every later
        row and keeping the first `chunk_rows` reads every later row each time; one streamed query over the
        partition let DuckDB hold gigabytes of a million-article result.) No connection is held between chunks."""
        where, params = _partition_filter(table, partition)
        after: Any = None
        while True:
            later = "" if after is None else f' AND "{key}" > $after'
            bounds = {**params, **({} if after is None else {"after": after})}
            with self.connect(read_only=True) as con:
                if not _table_exists(con, table):
                    return
                con.execute(f"SET memory_limit = '{memory_limit}'")
                last = con.execute(f'SELECT max("{key}") FROM (SELECT "{key}" FROM "{table}" WHERE {where}{later} '
                                   f'ORDER BY "{key}" LIMIT {int(chunk_rows)})', bounds).fetchone()[0]
                if last is None:
                    return
                chunk = con.execute(f'SELECT * FROM "{table}" WHERE {where}{later} AND "{key}" <= $last ORDER BY "{key}"',
                                    {**bounds, "last": last}).pl()
            yield chunk
            if chunk.height < chunk_rows:
                return
            after = last

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
        present = dict(con.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = ?", [table]).fetchall())
        for column, kind in TABLES[table].items():
            if column not in present:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind.replace("NOT NULL", "").strip()}')
            elif "NOT NULL" not in kind and present[column] == "NO":  # a column that may now be empty
                con.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP NOT NULL')


def _checked_batches(table: str, chunks: Iterable[pl.DataFrame], partition: Mapping[str, str]) -> pa.RecordBatchReader | None:
    """The chunks as one Arrow stream, each checked against the table as it is read (None when there is none)."""
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return None

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in itertools.chain([first], iterator):
            _check_frame(table, chunk, partition)
            yield from chunk.to_arrow().to_batches()

    return pa.RecordBatchReader.from_batches(first.to_arrow().schema, batches())


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0])


def _roll_back(con: duckdb.DuckDBPyConnection) -> None:
    """Undo an open transaction; a commit that failed has ended it already, and its error is the one to raise."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


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
