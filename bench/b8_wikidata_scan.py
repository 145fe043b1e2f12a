"""B8: one scan of a Wikidata dump into the extract, against the reader it replaced and against plain decompression.

    .venv/bin/python -m bench.b8_wikidata_scan            # a 2 GB gzip dump under /tmp, deleted afterwards
    .venv/bin/python -m bench.b8_wikidata_scan --gb 0.5   # smaller

First checks that seeds from the extract are identical to those of the reader before it (loaded from
git at BASELINE_COMMIT) on the test dumps: plain, gzip, bzip2 and dirty, in four languages and with
each kind of filter. Then generates a dump in the published format (bench/wikidata_dump.py: real entity
sizes and class mix, most entities in no domain), four domains reading it, and measures in one run:
- the extract: one pass for every partition (MB/s of JSON, entities kept, peak memory);
- the reader it replaced, for one partition (people, instance_of Q5): its first pass over the dump, as
  MB/s of JSON (it made two passes per partition);
- plain decompression of the same file through isal, the limit of any scan (the faster of isal's own
  threaded reader and the extract's), before and after the extract (the machine's load changes
  meanwhile), and through the standard library's gzip;
- MB of JSON per CPU second of each, which says how many free cores the extract needs to meet each target.
Targets: the extract at least 10x the old reader's single pass, and within 2x of plain decompression.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from isal import igzip_threaded

from bench.wikidata_dump import DOMAIN_CLASSES, write_dump
from cosmo_assets.config import load_config
from cosmo_assets.knowledge_base.dump_files import open_dump
from cosmo_assets.knowledge_base.records import BadRow, Entity, EntityFilter
from cosmo_assets.knowledge_base.wikidata import WikidataReader
from cosmo_assets.knowledge_base.wikidata_extract import build_extract, scan_plan
from cosmo_assets_tests.conftest import FIXTURES, edit_yaml, make_config_dir, write_yaml
from cosmo_assets_tests.fixtures.make_wikidata_dumps import dirty_entities, dump

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "65f5f579608039e0e718c196542fc4a288c9b51d"  # main before the extract
FULL_DUMP_JSON_BYTES = 1.4e12  # latest-all.json, late 2025: about 1.4 TB of JSON for about 115 million entities


class _FirstPassDone(Exception):
    pass


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the scan's workers, once their pool is closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline_module() -> types.ModuleType:
    """The Wikidata reader as it was at BASELINE_COMMIT: two passes over the dump per partition, json.loads per line."""
    source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:cosmo_assets/knowledge_base/wikidata.py"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    module = types.ModuleType("wikidata_before_extract")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{BASELINE_COMMIT[:7]}:wikidata.py", "exec"), module.__dict__)
    return module


def _baseline_rows(old, config, source, path, language, wanted) -> list:
    reader = old.WikidataReader(path, source, config.seeds.wikidata, config.wikidata_vocabulary, language, wanted,
                                config.seeds.limits)
    return list(reader.read())


def _summary(rows) -> tuple[list, list]:
    rows = list(rows)
    entities = [(r.source_id, r.title, r.topic_type, r.description, r.facts, r.keywords, r.location)
                for r in rows if isinstance(r, Entity)]
    bad = [(r.location, r.reason, r.detail, r.source_id, r.raw) for r in rows
           if isinstance(r, BadRow) and r.reason != "unknown_topic_type"]  # now skipped and counted, not bad rows
    return sorted(entities), sorted(bad)


def check_identity(old, workdir: Path) -> tuple[int, int]:
    """Seeds and bad rows of the extract against the old reader on every test dump: the cases compared, and
    the old bad rows left out on purpose (redirects, broken lines outside a class-filtered domain)."""
    config_dir = make_config_dir(workdir / "identity")
    kb = config_dir / "knowledge_base"
    sample = (FIXTURES / "wikidata_sample.json").read_bytes()
    (kb / "sample.json").write_bytes(sample)
    (kb / "sample.json.gz").write_bytes(gzip.compress(sample))
    shutil.copy(FIXTURES / "wikidata_sample.json.bz2", kb / "sample.json.bz2")
    (kb / "dirty.json.bz2").write_bytes(bz2.compress(dump(dirty_entities())))
    shutil.copy(FIXTURES / "wikidata_clean.json.gz", kb / "clean.json.gz")
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    filters = [{}, {"instance_of": ["Q5", "Q3305213"]}, {"ids": ["Q7186", "Q12418", "Q90000003"]},
               {"keywords": ["skłodowska", "renaissance"]}, {"instance_of": ["Q3624078"], "keywords": ["central europe"]}]
    cases = dropped = 0
    for name in ["sample.json", "sample.json.gz", "sample.json.bz2", "dirty.json.bz2", "clean.json.gz"]:
        for f in filters:
            write_yaml(config_dir / "domains" / "alpha.yaml",
                       {"name": "alpha", "title": "Alpha", "sources": [{"kind": "wikidata", "path": f"knowledge_base/{name}"}],
                        **({"filters": f} if f else {})})
            config = load_config(config_dir)
            source = config.domain("alpha").all_sources[0]
            for language in config.enabled_languages:
                wanted = EntityFilter.of(config.domain("alpha").filters)
                path = config.source_path(source)
                before = _summary(_baseline_rows(old, config, source, path, language, wanted))
                after = _summary(WikidataReader(config, source, path, language, wanted).read())
                if before[0] != after[0]:
                    raise SystemExit(f"seeds differ on {name}, filters {f}, language {language}:\n{before[0]}\n{after[0]}")
                mapped = {c for classes in config.seeds.wikidata.topic_types.values() for c in classes}
                unexplained = [b for b in set(before[1]) - set(after[1]) if not _meant(b, wanted, path, mapped)]
                if unexplained or set(after[1]) - set(before[1]):
                    raise SystemExit(f"bad rows differ on {name}, filters {f}, language {language}:\n{before[1]}\n{after[1]}")
                dropped += len(set(before[1]) - set(after[1]))
                cases += 1
    return cases, dropped


def _meant(bad: tuple, wanted: EntityFilter, path: Path, mapped: set[str]) -> bool:
    """A bad row of the old reader that the extract leaves out on purpose: an entity of no mapped class or a
    redirect (both skipped and counted now), or a broken line whose bytes name none of the domain's classes
    (outside the domain, so never parsed)."""
    with open_dump(path) as stream:
        line = stream.read(1 << 30).split(b"\n")[int(bad[0].split()[1]) - 1].rstrip(b",")
    try:
        entity = json.loads(line)
    except ValueError:
        return bool(wanted.instance_of) and not any(f'"{c}"'.encode() in line for c in wanted.instance_of)
    classes = {s["mainsnak"]["datavalue"]["value"]["id"] for s in entity.get("claims", {}).get("P31", [])}
    return "redirects" in entity or not classes & mapped


def bench_config(workdir: Path, dump_path: Path):
    # alpha and beta stay (on the small knowledge base): the test real-text corpus names them.
    config_dir = make_config_dir(workdir / "bench", domains=("alpha", "beta", *DOMAIN_CLASSES))
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    for name, classes in DOMAIN_CLASSES.items():
        write_yaml(config_dir / "domains" / f"{name}.yaml", {
            "name": name, "title": name.title(), "filters": {"instance_of": classes},
            "sources": [{"kind": "wikidata", "path": str(dump_path)}]})
    return load_config(config_dir)


def plain_decompression(dump_path: Path) -> tuple[float, float]:
    """The faster of isal's own threaded reader and the one the extract uses (dump_files: isal in a thread of its
    own, further ahead), as decode_rate gives it: the limit is the fastest plain decompression there is."""
    return max(decode_rate(lambda: igzip_threaded.open(dump_path, "rb", threads=1)), decode_rate(lambda: open_dump(dump_path)))


def decode_rate(opener, block: int = 8 << 20) -> tuple[float, float]:
    """MB/s of JSON read through a decoder (wall clock), and MB of JSON per CPU second it took."""
    started, cpu, total = time.monotonic(), _cpu(), 0
    with opener() as stream:
        while data := stream.read(block):
            total += len(data)
    return total / 1e6 / (time.monotonic() - started), total / 1e6 / (_cpu() - cpu)


def old_reader_first_pass(old, config, dump_path: Path) -> tuple[float, float]:
    """MB/s of JSON of the old reader's first pass for the people partition, and its seconds."""
    original = old.dump_lines
    seen = {"bytes": 0, "calls": 0}

    def first_pass_only(path):
        seen["calls"] += 1
        if seen["calls"] > 1:
            raise _FirstPassDone
        for line_no, raw in original(path):
            seen["bytes"] += len(raw) + 2
            yield line_no, raw

    old.dump_lines = first_pass_only
    domain = config.domain("people")
    started = time.monotonic()
    try:
        _baseline_rows(old, config, domain.all_sources[0], dump_path, "en", EntityFilter.of(domain.filters))
    except _FirstPassDone:
        pass
    finally:
        old.dump_lines = original
    seconds = time.monotonic() - started
    return seen["bytes"] / 1e6 / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="GB of JSON in the generated dump (default 2)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the dump is generated (deleted afterwards)")
    parser.add_argument("--workers", type=int, default=None, help="scan workers (default: every core)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="b8_wikidata_", dir=args.dir))
    try:
        old = baseline_module()
        cases, dropped = check_identity(old, workdir)
        print(f"identity: seeds of the extract equal the old reader's in {cases} cases (plain, gz, bz2, dirty and "
              f"clean dumps x 5 filter sets x 4 languages); bad rows too, but for {dropped} left out on purpose "
              "(redirects, broken lines naming none of a class-filtered domain's classes); unmapped entities are "
              "skipped now, not quarantined")
        dump_path = workdir / "latest-all.json.gz"
        started = time.monotonic()
        made = write_dump(dump_path, int(args.gb * 1e9))
        print(f"dump: {made['entities']:,} entities, {made['json_bytes'] / 1e9:.2f} GB of JSON, "
              f"{dump_path.stat().st_size / 1e9:.2f} GB gzip, generated in {time.monotonic() - started:.0f} s")
        config = bench_config(workdir, dump_path)
        json_mb = made["json_bytes"] / 1e6
        isal_before, isal_per_cpu = plain_decompression(dump_path)
        stdlib_rate, _ = decode_rate(lambda: gzip.open(dump_path, "rb"))
        cpu = _cpu()
        manifest = build_extract(dump_path, scan_plan(config, dump_path), workdir / "extract", report=print,
                                 workers=args.workers)
        cpu_extract = _cpu() - cpu
        # The machine's load changes while the bench runs: the limit is measured on both sides of the extract.
        isal_after, _ = plain_decompression(dump_path)
        isal_rate, cpu = (isal_before + isal_after) / 2, _cpu()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the old reader, which holds its entities
        peak_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        old_rate, old_seconds = old_reader_first_pass(old, config, dump_path)
        cpu_old = _cpu() - cpu
        rate = manifest["mb_per_s"]
        print(f"machine: {os.cpu_count()} cores (shared with other jobs while measured)")
        print(f"extract (one pass, 4 domains x every language): {rate:.0f} MB/s of JSON, {manifest['seconds']:.0f} s, "
              f"{manifest['entities']:,} entities kept, {manifest['labels']:,} labels, workers {manifest['workers']}, "
              f"peak RSS so far {peak:.0f} MB (this process, dump generation and identity check included; "
              f"largest child {peak_workers:.0f} MB)")
        print(f"old reader, first pass of one partition (people|en): {old_rate:.1f} MB/s of JSON ({old_seconds:.0f} s); "
              "it made two passes per partition")
        print(f"plain decompression of the same file: {isal_rate:.0f} MB/s (isal, the faster of its own threaded reader "
              f"and the extract's: {isal_before:.0f} before the extract, {isal_after:.0f} after), {stdlib_rate:.0f} MB/s "
              "(gzip module)")
        print(f"extract vs old reader's single pass: {rate / old_rate:.1f}x (target >= 10x)")
        print(f"plain decompression vs extract: {isal_rate / rate:.2f}x (target <= 2x)")
        # CPU time depends little on what else the machine runs: MB of JSON per CPU second says how many free
        # cores the extract needs to meet each target on a machine of its own.
        per_cpu, old_per_cpu = json_mb / cpu_extract, old_rate * old_seconds / cpu_old
        print(f"MB of JSON per CPU second: extract {per_cpu:.0f} (all processes), old reader {old_per_cpu:.0f}, "
              f"isal decompression {isal_per_cpu:.0f}; free cores the extract needs for 10x the old reader: "
              f"{10 * old_per_cpu / per_cpu:.1f}, for half the decoder's speed: {isal_per_cpu / 2 / per_cpu:.1f}")
        per_tb = 1e12 / 1e6 / rate / 3600
        print(f"a full latest-all.json.gz at this rate: {per_tb:.1f} h per TB of JSON, so about {per_tb * 1.1:.1f} h "
              f"to {per_tb * FULL_DUMP_JSON_BYTES / 1e12:.1f} h for the 1.1 to 1.4 TB of JSON of recent dumps, on this machine")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
