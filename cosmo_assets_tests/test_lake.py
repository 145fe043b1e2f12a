"""Team storage: the stage tables in a DuckLake on a real Postgres catalog (Debian's server, started on a
free loopback port), written by several processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from cosmo_assets.config import ConfigError, load_config
from cosmo_assets.lake import Lake, LakeError, LakeStorage, open_storage
from cosmo_assets.storage import StorageError
from cosmo_assets_tests.conftest import make_config_dir, seed_rows
from cosmo_assets_tests.services import postgres

PARTITIONS = [("alpha", "en"), ("beta", "en"), ("alpha", "fr"), ("beta", "fr")]


@pytest.fixture(scope="module")
def catalog_server():
    with postgres() as pg:
        yield pg


@pytest.fixture
def lake(catalog_server, tmp_path, request) -> Lake:
    database = f"lake_{request.node.name[:40].lower()}"
    catalog_server.create_database(database)
    return Lake(f"postgres:{catalog_server.dsn(database)}", str(tmp_path / "lake_files"))


def ids(storage: LakeStorage, domain: str, language: str) -> list[str]:
    return sorted(storage.read_partition("seeds", {"domain": domain, "language": language})["seed_id"].to_list())


def test_each_partition_is_written_to_its_own_files_and_a_replace_keeps_the_others(lake):
    storage = LakeStorage(lake)
    assert "seeds" in storage.bootstrap()
    for domain, language in PARTITIONS:
        storage.replace_partition("seeds", seed_rows(domain, language, [f"{domain}-{language}-1"]), {"domain": domain, "language": language})
    storage.replace_partition("seeds", seed_rows("alpha", "en", ["a1", "a2"]), {"domain": "alpha", "language": "en"})

    assert ids(storage, "alpha", "en") == ["a1", "a2"]
    assert ids(storage, "beta", "fr") == ["beta-fr-1"]
    folders = {p.parent.relative_to(Path(lake.data_path)).as_posix() for p in Path(lake.data_path).rglob("*.parquet")}
    assert {f"main/seeds/domain={d}/language={lang}" for d, lang in PARTITIONS} <= folders
    # The digest sees the rows, not the files they sit in.
    assert storage.partition_digest("seeds", {"domain": "alpha", "language": "en"})[0] == 2


def test_a_lake_that_was_not_bootstrapped_says_which_command_makes_it(lake):
    with pytest.raises(StorageError, match=r"python -m cosmo_assets lake bootstrap"):
        LakeStorage(lake).replace_partition("seeds", seed_rows("alpha", "en", ["1"]), {"domain": "alpha", "language": "en"})


def _write(lake: Lake, domain: str, language: str, seed_ids: list[str], start) -> None:
    start.wait()
    LakeStorage(lake, attempts=20).replace_partition("seeds", seed_rows(domain, language, seed_ids), {"domain": domain, "language": language})


def test_writers_in_separate_processes_lose_nothing_and_write_nothing_twice(lake):
    """Four writers of their own partitions, and two more racing for one partition (which conflicts and
    must retry): every write lands, and the contested partition holds exactly one writer's rows.
    The contested partition was made before (a re-run racing another re-run): both replaces delete its
    rows, which is what makes the lake see the conflict. Two first writes of one partition are kept
    apart by Dagster's one-run-per-partition limit (dagster.yaml), not by the lake."""
    LakeStorage(lake).bootstrap()
    LakeStorage(lake).replace_partition("seeds", seed_rows("gamma", "en", [f"old-{i}" for i in range(10)]),
                                        {"domain": "gamma", "language": "en"})
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(6)
    jobs = [(d, lang, [f"{d}-{lang}-{i}" for i in range(50)]) for d, lang in PARTITIONS]
    jobs += [("gamma", "en", [f"first-{i}" for i in range(30)]), ("gamma", "en", [f"second-{i}" for i in range(40)])]
    writers = [spawn.Process(target=_write, args=(lake, d, lang, seed_ids, start)) for d, lang, seed_ids in jobs]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=600)
    assert [w.exitcode for w in writers] == [0] * 6

    storage = LakeStorage(lake)
    for domain, language, seed_ids in jobs[:4]:
        assert ids(storage, domain, language) == sorted(seed_ids)
    assert ids(storage, "gamma", "en") in (sorted(jobs[4][2]), sorted(jobs[5][2]))
    assert storage.query("SELECT count(*) AS n FROM seeds")["n"][0] == 4 * 50 + len(ids(storage, "gamma", "en"))


def test_maintenance_expires_old_snapshots_and_deletes_files_no_snapshot_reads(lake):
    storage = LakeStorage(lake)
    storage.bootstrap()
    for version in range(3):
        storage.replace_partition("seeds", seed_rows("alpha", "en", [f"v{version}"]), {"domain": "alpha", "language": "en"})
    files_before = len(list(Path(lake.data_path).rglob("*.parquet")))

    done = storage.maintain(keep_days=0)

    assert done["snapshots_expired"] >= 3 and done["files_removed"] >= 2
    assert len(list(Path(lake.data_path).rglob("*.parquet"))) == files_before - done["files_removed"]
    assert ids(storage, "alpha", "en") == ["v2"]  # the current rows are untouched


def test_settings_pick_the_lake_and_refuse_an_incomplete_or_secret_bearing_one(tmp_path, monkeypatch):
    config_dir = make_config_dir(tmp_path)
    monkeypatch.setenv("COSMO_CONFIG_DIR", str(config_dir))
    assert type(open_storage(load_config())).__name__ == "Storage"  # the default: the DuckDB file

    monkeypatch.setenv("COSMO_STORAGE_BACKEND", "ducklake")
    with pytest.raises(ConfigError, match=r"project.yaml: field 'storage'.*ducklake_catalog"):
        load_config()
    monkeypatch.setenv("COSMO_DUCKLAKE_CATALOG", "postgres:dbname=cosmo host=127.0.0.1")
    monkeypatch.setenv("COSMO_DUCKLAKE_DATA_PATH", str(tmp_path / "shared"))
    storage = open_storage(load_config())
    assert isinstance(storage, LakeStorage) and storage.lake.data_path == str(tmp_path / "shared")

    monkeypatch.setenv("COSMO_STORAGE_BACKEND", "parquet")
    with pytest.raises(ConfigError, match=r"field 'storage.backend'"):
        load_config()
    with pytest.raises(LakeError, match=r"PGPASSWORD"):
        Lake("postgres:dbname=cosmo password=hunter2", str(tmp_path))
    with pytest.raises(LakeError, match=r"expected a Postgres catalog"):
        Lake("sqlite:catalog.db", str(tmp_path))
