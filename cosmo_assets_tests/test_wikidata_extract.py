"""The Wikidata extract: one scan of a dump feeds every seeds partition; the clean and dirty real-format dumps
(fixtures/make_wikidata_dumps.py) on the default settings; what is skipped is counted, not quarantined."""

from __future__ import annotations

import bz2
import gzip
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cosmo_assets.config import SeedLimits, load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.knowledge_base.dump_files import DumpError, open_dump
from cosmo_assets.knowledge_base.records import Entity, RowProblem, check_entity
from cosmo_assets.knowledge_base.scan_blocks import scan_dump
from cosmo_assets.knowledge_base.wikidata_extract import build_extract, ensure_extract, scan_plan
from cosmo_assets.stages.seeds import read_seeds
from cosmo_assets_tests.conftest import FIXTURES, edit_yaml, use_sources

TOPICS = ["France", "Leonardo da Vinci", "Marie Curie", "Mona Lisa", "Poland", "Warsaw", "World War II", "physics"]


def with_dump(config_dir: Path, name: str, filters: dict | None = None, domain: str = "alpha") -> Path:
    target = config_dir / "knowledge_base" / name
    if not target.exists():
        shutil.copy(FIXTURES / name, target)
    use_sources(config_dir, [{"kind": "wikidata", "path": f"knowledge_base/{name}"}], filters, domain)
    return target


def materialise_seeds(config_dir: Path, tmp_path: Path, domain: str = "alpha", extract_first: bool = True):
    """The extract asset (unless `extract_first` is off), then the seeds partition domain|en; and the seeds run's log."""
    resource = CosmoResource(config_dir=str(config_dir), full_size=True)
    defs = build_definitions(load_config(config_dir), resource)
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    extract = None
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        if extract_first:
            extract = dg.materialize([defs.get_assets_def("wikidata_extract")], instance=instance, resources={"cosmo": resource})
        seeds = dg.materialize(
            [defs.get_assets_def("seeds")], instance=instance, resources={"cosmo": resource}, raise_on_error=False,
            partition_key=dg.MultiPartitionKey({"domain": domain, "language": "en"}),
        )
        log = [entry.user_message for entry in instance.all_logs(seeds.run_id)]
    return extract, seeds, log


def test_a_clean_real_format_dump_passes_the_seeds_contract_on_default_settings(config_dir, tmp_path):
    with_dump(config_dir, "wikidata_clean.json.gz")
    extract, seeds, log = materialise_seeds(config_dir, tmp_path)

    assert not any(m.startswith("wikidata scan") for m in log)  # the asset made the extract; seeds only read it
    [made] = extract.get_asset_materialization_events()
    [dump] = made.materialization.metadata["dumps"].value.values()
    assert dump["made_now"] and dump["lines"] == 20 and dump["entities_kept"] == 17
    assert dump["skipped"] == {"lexemes": 1, "properties": 1, "redirects": 1}
    [check] = seeds.get_asset_check_evaluations()
    assert check.check_name == "seeds_contract" and check.passed
    [event] = seeds.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rows"].value == 8 and metadata["quarantined"].value == 0
    # What no domain maps is counted by class, with the class's label where the dump has it.
    assert metadata["skipped_unmapped"].value == {"wikidata": {"entities": 9, "top_classes": [
        {"class": "Q13442814", "label": "scholarly article", "entities": 3},
        {"class": "Q7191", "label": "", "entities": 2},
        {"class": "Q28640", "label": "", "entities": 1},
        {"class": "Q318", "label": "galaxy", "entities": 1},
        {"class": "Q6999", "label": "", "entities": 1},
        {"class": "Q732577", "label": "", "entities": 1},
    ]}}
    report = metadata["sources"].value["wikidata"]
    assert report["skipped"] == {"lexemes": 1, "properties": 1, "redirects": 1, "unmapped": 9}
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        assert sorted(r[0] for r in con.execute("SELECT title FROM seeds").fetchall()) == TOPICS


def test_a_dirty_dump_quarantines_its_bad_lines_and_fails_the_seeds_contract(config_dir, tmp_path):
    with_dump(config_dir, "wikidata_dirty.json.bz2")
    _, seeds, log = materialise_seeds(config_dir, tmp_path, extract_first=False)

    # No extract yet: the seeds run makes it, and says how the scan went in its own log.
    assert any(m.startswith("wikidata scan wikidata_dirty.json.bz2:") and m.endswith("done") for m in log)

    [check] = seeds.get_asset_check_evaluations()
    assert not check.passed  # 4 bad of 12 read: a third, past max_bad_share 0.05
    [event] = seeds.get_asset_materialization_events()
    assert event.materialization.metadata["bad_share"].value == pytest.approx(4 / 12, abs=1e-4)
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        assert sorted(r[0] for r in con.execute("SELECT title FROM seeds").fetchall()) == TOPICS
        rows = con.execute("SELECT source_id, location, reason, detail FROM seed_quarantine ORDER BY source_id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("Q90000001", "line 7", "missing_title"), ("Q90000002", "line 8", "oversized_field"),
        ("Q90000003", "line 16", "malformed_json"), ("Q90000004", "line 17", "bad_encoding"),
    ]
    assert rows[2][3].startswith("not valid JSON (Expecting") and "limits.description_chars=1000" in rows[1][3]


def test_every_partition_reads_one_extract_made_once(config_dir):
    dump = with_dump(config_dir, "wikidata_clean.json.gz", {"instance_of": ["Q5"]})
    with_dump(config_dir, "wikidata_clean.json.gz", {"ids": ["Q270", "Q36"]}, domain="beta")
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    config = load_config(config_dir)
    people = read_seeds(config, "alpha", "fr", None)
    assert sorted(people.seeds["title"]) == ["Léonard de Vinci", "Marie Curie"]
    assert ("lieu de naissance", "Varsovie") in [(f["property"], f["value"]) for f in people.seeds["facts"][
        people.seeds["title"].to_list().index("Marie Curie")]]
    places = read_seeds(config, "beta", "de", None)
    assert sorted(places.seeds["title"]) == ["Polen", "Warschau"]
    first = ensure_extract(config, dump)
    assert not first.manifest["made"]  # the partitions above made it; the asset only finds it
    assert first.manifest["entities"] == 4  # the union of both domains' filters: two people, two places

    # Re-made when a domain's filters change or the dump is touched, not for settings it does not read.
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=3))
    assert not ensure_extract(load_config(config_dir), dump).manifest["made"]
    use_sources(config_dir, [{"kind": "wikidata", "path": "knowledge_base/wikidata_clean.json.gz"}],
                {"ids": ["Q270"]}, "beta")
    changed = ensure_extract(load_config(config_dir), dump)
    assert changed.manifest["made"] and changed.path != first.path and not first.path.exists()
    os.utime(dump, ns=(dump.stat().st_atime_ns, dump.stat().st_mtime_ns + 10**9))
    assert ensure_extract(load_config(config_dir), dump).manifest["made"]


def repeated(dump: Path, times: int) -> None:
    """The dump's entity lines `times` over, in its own compression: a scan long enough for its workers to start
    and take over from the reading process, which scans the first blocks itself meanwhile."""
    entities = [line for line in _decompressed(dump).splitlines() if line.startswith(b"{")]
    data = b"[\n" + b",\n".join(line.rstrip(b",") for line in entities * times) + b"\n]\n"
    dump.write_bytes(gzip.compress(data, 1) if dump.suffix == ".gz" else bz2.compress(data, 1) if dump.suffix == ".bz2" else data)


def _decompressed(dump: Path) -> bytes:
    return gzip.decompress(dump.read_bytes()) if dump.suffix == ".gz" else \
        bz2.decompress(dump.read_bytes()) if dump.suffix == ".bz2" else dump.read_bytes()


# Blocks reach the workers through shared-memory slots of block_bytes: 700 makes most lines longer than a slot.
@pytest.mark.parametrize(("name", "block_bytes"), [("wikidata_clean.json.gz", 4096), ("wikidata_dirty.json.bz2", 4096),
                                                   ("wikidata_sample.json", 700)])
def test_worker_processes_give_the_extract_one_process_gives(config_dir, tmp_path, name, block_bytes):
    dump = with_dump(config_dir, name)
    repeated(dump, 300)
    plan = scan_plan(load_config(config_dir), dump)
    lines: list[str] = []
    build_extract(dump, plan, tmp_path / "one", workers=1)
    manifest = build_extract(dump, plan, tmp_path / "two", workers=2, report=lines.append, block_bytes=block_bytes)
    assert manifest["workers"] == 2 and lines and "entities kept" in lines[-1]
    for table in ("entities", "labels", "bad_rows"):
        one, two = (duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path / d / table}.parquet') ORDER BY ALL").fetchall()
                    for d in ("one", "two"))
        assert one == two
        assert len(one) > 0 or (table == "bad_rows" and "dirty" not in name)


def test_a_scan_worker_killed_mid_scan_ends_the_extract_with_an_error_not_a_hang(config_dir, tmp_path):
    dump = with_dump(config_dir, "wikidata_sample.json")
    repeated(dump, 300)
    plan = scan_plan(load_config(config_dir), dump)
    killed: list[int] = []

    def kill_a_worker() -> None:
        workers = [p for p in multiprocessing.active_children() if p.name == "wikidata-scan"]
        if workers and not killed:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    with open_dump(dump) as stream, pytest.raises(RuntimeError, match=r"scan worker \(pid \d+\) died"):
        for n, _ in enumerate(scan_dump(stream, plan, workers=2, block_bytes=700, labels=tmp_path / "labels")):  # many blocks
            if n >= 20:
                kill_a_worker()
    assert killed
    assert not [p for p in multiprocessing.active_children() if p.name == "wikidata-scan"]  # the other one stopped


def test_a_dump_cut_short_stops_the_extract_with_an_error_naming_the_file(config_dir, tmp_path):
    dump = with_dump(config_dir, "wikidata_clean.json.gz")
    repeated(dump, 300)
    whole = dump.read_bytes()
    dump.write_bytes(whole[: len(whole) * 2 // 3])  # a download that stopped
    plan = scan_plan(load_config(config_dir), dump)
    for workers in (1, 2):
        with pytest.raises(DumpError, match=r"wikidata_clean\.json\.gz: cannot be read past byte .* cut short or damaged"):
            build_extract(dump, plan, tmp_path / f"extract-{workers}", workers=workers, block_bytes=4096)
        assert not (tmp_path / f"extract-{workers}").exists()
    assert not [t for t in threading.enumerate() if t.name == "dump-decoder"]  # the decoder thread stopped with the scan
    assert not [p for p in multiprocessing.active_children() if p.name == "wikidata-scan"]


def test_the_extract_key_is_the_same_in_every_process(config_dir):
    """Partitions run in separate processes: each must find the extract another made (string hashing differs)."""
    with_dump(config_dir, "wikidata_clean.json.gz", {"instance_of": ["Q5", "Q515", "Q6256", "Q11424"]})
    with_dump(config_dir, "wikidata_clean.json.gz", {"ids": ["Q1", "Q2", "Q3"]}, domain="beta")
    code = ("from cosmo_assets.config import load_config; from cosmo_assets.knowledge_base.wikidata_extract import extract_path; "
            f"c = load_config({str(config_dir)!r}); print(extract_path(c, c.source_path(c.domain('beta').all_sources[0])))")
    paths = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, check=True,
                            capture_output=True, text=True).stdout for seed in ("1", "2", "3")}
    assert len(paths) == 1


def test_an_unknown_topic_type_names_the_classes_found():
    entity = Entity(source_id="Q1", title="Thing", topic_type="", instance_of=["Q13442814", "Q318"], location="line 2")
    with pytest.raises(RowProblem) as problem:
        check_entity(entity, SeedLimits())
    assert problem.value.reason == "unknown_topic_type"
    assert problem.value.detail.endswith("(instance of Q13442814, Q318)")
