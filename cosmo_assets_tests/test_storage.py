"""The storage path: a partition re-written replaces exactly its rows, and frames that do not fit are refused."""

from __future__ import annotations

import pytest

from cosmo_assets.storage import Storage, StorageError
from cosmo_assets_tests.conftest import seed_rows


@pytest.fixture
def storage(tmp_path):
    return Storage(tmp_path / "cosmo.duckdb")


def count(storage: Storage, domain: str) -> int:
    return storage.query("SELECT count(*) AS n FROM seeds WHERE domain = $d", {"d": domain})["n"][0]


def test_rewrite_replaces_exactly_its_partition(storage):
    storage.replace_partition("seeds", seed_rows("a", "en", ["1", "2", "3"]), {"domain": "a", "language": "en"})
    storage.replace_partition("seeds", seed_rows("b", "en", ["4"]), {"domain": "b", "language": "en"})
    storage.replace_partition("seeds", seed_rows("a", "en", ["1", "5"]), {"domain": "a", "language": "en"})
    got = storage.read_partition("seeds", {"domain": "a", "language": "en"})
    assert sorted(got["seed_id"].to_list()) == ["1", "5"]
    assert count(storage, "b") == 1


def test_empty_result_leaves_an_empty_partition(storage):
    storage.replace_partition("seeds", seed_rows("a", "en", ["1", "2"]), {"domain": "a", "language": "en"})
    storage.replace_partition("seeds", seed_rows("a", "en", []), {"domain": "a", "language": "en"})
    assert count(storage, "a") == 0


def test_columns_are_inserted_by_name_not_position(storage):
    frame = seed_rows("a", "en", ["1"])
    shuffled = frame.select(list(reversed(frame.columns)))
    storage.replace_partition("seeds", shuffled, {"domain": "a", "language": "en"})
    got = storage.read_partition("seeds", {"domain": "a", "language": "en"})
    assert got["title"][0] == "T 1" and got["source_id"][0] == "1"


def test_missing_partition_dimension_is_refused(storage):
    with pytest.raises(StorageError, match=r"a partition needs exactly \['domain', 'language'\]"):
        storage.replace_partition("seeds", seed_rows("a", "en", ["1"]), {"domain": "a"})


def test_rows_of_another_partition_are_refused(storage):
    with pytest.raises(StorageError, match="1 rows have language other than 'fr'"):
        storage.replace_partition("seeds", seed_rows("a", "en", ["1"]), {"domain": "a", "language": "fr"})


def test_unknown_and_missing_columns_are_refused(storage):
    frame = seed_rows("a", "en", ["1"])
    with pytest.raises(StorageError, match=r"columns \['surprise'\] are not in the table"):
        storage.replace_partition("seeds", frame.with_columns(surprise=1), {"domain": "a", "language": "en"})
    with pytest.raises(StorageError, match=r"required columns \['title'\] are missing"):
        storage.replace_partition("seeds", frame.drop("title"), {"domain": "a", "language": "en"})


def test_reading_a_partition_never_written_gives_the_table_columns(storage):
    got = storage.read_partition("drafts", {"domain": "a", "language": "en"})
    assert got.height == 0 and "draft_id" in got.columns
