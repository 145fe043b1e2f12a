"""Team storage: the same stage tables in a DuckLake (a catalog in Postgres, Parquet files on shared
storage), so workers on several machines write their own partitions at once.

The extensions load from the `duckdb-ext-*` wheels installed with the project, never from a download.
Each partition's rows sit in their own data files (tables partitioned by domain and language), so
writers of different partitions do not conflict; a writer that still meets a conflict retries its
whole transaction (storage.py).
"""

from __future__ import annotations

import importlib.util
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cosmo_assets.storage import PARTITION_COLUMNS, TABLES, Storage, StorageError, create_tables

if TYPE_CHECKING:
    from dagster_duckdb import DuckDBResource

    from cosmo_assets.config import CosmoConfig

LAKE = "lake"  # the name the lake is attached under in every connection
_EXTENSIONS = ("postgres_scanner", "ducklake")  # postgres first: ducklake's Postgres catalog needs it
# Another writer committed first: the commit fails, and the whole transaction is run again.
_CONFLICT_MARKERS = ("conflict", "could not serialize", "failed to commit")

log = logging.getLogger(__name__)


class LakeError(RuntimeError):
    """The lake is not reachable, not set up, or its settings are incomplete."""


def extension_dir() -> Path:
    """The folder the extension wheels put their binaries in, for the running DuckDB version and platform."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise LakeError("the DuckLake extensions are not installed: expected the duckdb-ext-ducklake and duckdb-ext-postgres packages")
    root = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    return root / platform


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    folder = extension_dir()
    for name in _EXTENSIONS:
        path = folder / f"{name}.duckdb_extension"
        if not path.is_file():
            raise LakeError(f"{path}: missing; the duckdb-ext-* wheels must match duckdb {duckdb.__version__}")
        con.execute(f"LOAD '{path}'")


@dataclass(frozen=True)
class Lake:
    """Where the lake lives: `catalog` is a DuckLake catalog (`postgres:dbname=cosmo host=db port=5432 user=...`;
    the password comes from $PGPASSWORD, never from a file), `data_path` a folder every worker sees
    (a shared mount, or s3://bucket/prefix/ with duckdb-ext-httpfs)."""

    catalog: str
    data_path: str

    def __post_init__(self) -> None:
        if not self.catalog.startswith("postgres:"):
            # A SQLite or DuckDB catalog takes one writer at a time: it would defeat the point of the lake.
            raise LakeError(f"ducklake catalog {self.catalog!r}: expected a Postgres catalog such as 'postgres:dbname=cosmo host=127.0.0.1'")
        if re.search(r"password\s*=", self.catalog):
            raise LakeError("ducklake catalog: put the password in $PGPASSWORD, not in the settings")
        if "'" in self.catalog or "'" in self.data_path:
            raise LakeError("ducklake catalog and data path may not contain single quotes")

    def attach(self, con: duckdb.DuckDBPyConnection, read_only: bool = False) -> None:
        load_extensions(con)
        if not self.data_path.startswith(("s3://", "gs://", "az://")):
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        options = f"DATA_PATH '{self.data_path}'" + (", READ_ONLY" if read_only else "")
        try:
            con.execute(f"ATTACH 'ducklake:{self.catalog}' AS {LAKE} ({options})")
        except duckdb.Error as exc:
            raise LakeError(f"could not attach the lake at {self.catalog!r} (data in {self.data_path}): {exc}") from exc
        con.execute(f"USE {LAKE}")



class LakeStorage(Storage):
    """The storage path over a lake: same tables, same partition replaces, many writers at once."""

    def __init__(self, lake: Lake, attempts: int = 8):
        super().__init__(":memory:")  # connections come from DuckDBResource; the lake is attached to each
        self.lake = lake
        self.attempts = attempts

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.database.get_connection() as con:
            self.lake.attach(con, read_only)
            yield con

    def prepare(self, con: duckdb.DuckDBPyConnection, *tables: str) -> None:
        # Several writers creating the same table at once conflict: bootstrap() makes them up front.
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = [t for t in tables if t not in present]
        if missing:
            raise StorageError(f"the lake has no table {missing}: run `python -m cosmo_assets lake bootstrap` once first")

    def retrying(self, write: Callable[[], Any], what: str) -> Any:
        """Run the whole transaction again, after a growing pause with jitter, when it lost a commit race."""
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                return write()
            except duckdb.TransactionException as exc:
                if attempt == self.attempts or not any(m in str(exc).lower() for m in _CONFLICT_MARKERS):
                    raise
                log.info("%s: transaction conflict (attempt %d of %d), retrying in about %.1f s", what, attempt, self.attempts, delay)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 10.0)

    def bootstrap(self) -> list[str]:
        """Create every table (and add columns a newer version has), each partitioned by its partition
        columns so that writers of different partitions never share a data file; returns the tables."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")  # one snapshot, and no half-made lake if it fails
            create_tables(con)
            for table, keys in PARTITION_COLUMNS.items():
                if keys:
                    con.execute(f'ALTER TABLE "{table}" SET PARTITIONED BY ({", ".join(keys)})')
            con.execute("COMMIT")
        return sorted(TABLES)

    def maintain(self, keep_days: int) -> dict[str, int]:
        """Forget snapshots older than `keep_days` (time travel reaches back that far, no further) and
        delete the data files no snapshot reads any more; returns how many of each."""
        with self.connect() as con:
            expired = con.execute(
                f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - INTERVAL '{int(keep_days)} days')"
            ).fetchall()
            removed = con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)").fetchall()
        return {"snapshots_expired": len(expired), "files_removed": len(removed)}


def open_storage(config: CosmoConfig, database: DuckDBResource | None = None) -> Storage:
    """The storage the settings name: the DuckDB file (or the resource's database) by default, the lake in team mode."""
    settings = config.project.storage
    if settings.backend == "ducklake":
        return LakeStorage(Lake(settings.ducklake_catalog or "", config.ducklake_data_path()))
    return Storage(database or config.duckdb_path())
