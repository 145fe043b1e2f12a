"""The Wikidata extract: one streaming pass over a dump into compact Parquet that every seeds partition reads.

An extract lives in `<data dir>/wikidata_extract/<dump name>-<key>/`: `entities.parquet` (what any domain
reading the dump may want, slimmed), `labels.parquet` (the labels their values and classes name),
`bad_rows.parquet` and `extract.json` (counts and timing). The key hashes the dump file (path, size,
modification time), the domains' id and class filters, the languages, the properties, the row limit
and this code (the scan's compiled part included), so an extract is re-made only when one of those changes; a lock lets parallel
partitions wait for the one scan instead of each running their own.

Memory stays bounded whatever the dump size: blocks of lines go to worker processes a few at a time
through shared memory (scan_blocks.py),
rows are written to Parquet as they come, and the labels every item has are spilled to disk (by the worker
that read them) and joined with the ids that kept entities name by DuckDB at the end.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from cosmo_assets.config import CosmoConfig, WikidataSource
from cosmo_assets.ids import content_hash
from cosmo_assets.knowledge_base.dump_files import open_dump
from cosmo_assets.knowledge_base.scan_blocks import label_files, scan_dump
from cosmo_assets.knowledge_base.scan_progress import ScanProgress
from cosmo_assets.knowledge_base.wikidata_scan import CLASS_PROPERTY, BlockResult, DomainPrefilter, ScanPlan, without_gc

EXTRACT_DIR = "wikidata_extract"
BLOCK_BYTES = 8 << 20
INLINE_BYTES = 16 << 20  # smaller dumps are scanned in this process: starting workers would cost more
_MANIFEST = "extract.json"
_BATCH_ROWS = 20_000
_CODE = Path(__file__).parent

log = logging.getLogger(__name__)

# Batches are built with polars: pyarrow's own row conversion imports pandas (seconds) on first use.
_ENTITIES = {"line": pl.Int64, "id": pl.String, "classes": pl.List(pl.String), "refs": pl.List(pl.String),
             "entity": pl.String, "raw": pl.String}
_LABEL_SPILL = "label_spill"  # a folder of the labels of every item (scan_blocks.label_files), while the scan runs
_SEP = " "  # ids hold no spaces
_BAD = {"line": pl.Int64, "reason": pl.String, "detail": pl.String, "source_id": pl.String, "raw": pl.String,
        "classes": pl.List(pl.String)}


@dataclass(frozen=True)
class Extract:
    """A finished extract: where its files are and what the scan counted."""

    path: Path
    manifest: dict

    def file(self, name: str) -> str:
        return str(self.path / f"{name}.parquet")


def dumps_of(config: CosmoConfig, domain: str | None = None) -> list[Path]:
    """Every Wikidata dump the configured domains (or one domain) read, once each."""
    domains = [config.domain(domain)] if domain else config.domains
    found = {config.source_path(s): None for d in domains for s in d.all_sources if isinstance(s, WikidataSource)}
    return list(found)


def scan_plan(config: CosmoConfig, dump: Path) -> ScanPlan:
    """What the extract of `dump` must hold for every domain that reads it."""
    domains = []
    for domain in config.domains:
        if any(isinstance(s, WikidataSource) and config.source_path(s) == dump for s in domain.all_sources):
            f = domain.filters
            domains.append(DomainPrefilter(frozenset(f.ids) or None, frozenset(f.instance_of) or None))
    languages = sorted(set(config.enabled_languages) | set(config.seeds.wikidata.label_fallback))
    properties = (CLASS_PROPERTY, *sorted(p for p in config.wikidata_vocabulary.properties if p != CLASS_PROPERTY))
    # Sorted by content: a frozenset's repr follows string hashes, which differ from one process to the next.
    domains = sorted(set(domains), key=lambda d: (d.ids is None, sorted(d.ids or ()), d.classes is None, sorted(d.classes or ())))
    return ScanPlan(tuple(domains), tuple(languages), properties, config.seeds.limits.row_bytes)


def extract_key(dump: Path, plan: ScanPlan) -> str:
    stat = dump.stat()
    code = sorted((p.name, p.read_bytes()) for p in _CODE.iterdir()
                  if p.suffix in (".py", ".c") and p.name.startswith(("wikidata", "dump", "scan_blocks", "_prefilter")))
    plan_data = asdict(plan)
    plan_data["domains"] = sorted(({k: sorted(v) if v is not None else None for k, v in d.items()} for d in plan_data["domains"]),
                                  key=lambda d: json.dumps(d, sort_keys=True))
    return content_hash(str(dump.resolve()), stat.st_size, stat.st_mtime_ns, plan_data, code)


def extract_path(config: CosmoConfig, dump: Path) -> Path:
    return config.duckdb_path().parent / EXTRACT_DIR / f"{dump.name}-{extract_key(dump, scan_plan(config, dump))}"


def ensure_extract(config: CosmoConfig, dump: Path, report: Callable[[str], None] | None = None,
                   workers: int | None = None) -> Extract:
    """The current extract of `dump`, made now if the dump or the filters changed since the last one."""
    target = extract_path(config, dump)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another partition may be making this very extract: wait for it
        if (target / _MANIFEST).is_file():
            return Extract(target, {**json.loads((target / _MANIFEST).read_text()), "made": False})
        manifest = build_extract(dump, scan_plan(config, dump), target, report, workers)
    for old in target.parent.glob(f"{target.name.rsplit('-', 1)[0]}-*"):
        if old.is_dir() and old != target:  # an extract for an older dump or filters
            shutil.rmtree(old, ignore_errors=True)
            (old.parent / f"{old.name}.lock").unlink(missing_ok=True)
    return Extract(target, {**manifest, "made": True})


def build_extract(dump: Path, plan: ScanPlan, target: Path, report: Callable[[str], None] | None = None,
                  workers: int | None = None, block_bytes: int = BLOCK_BYTES) -> dict:
    """Scan `dump` once under `plan` and write the extract to `target` (complete, or not at all)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    size = dump.stat().st_size
    if workers is None:
        workers = 1 if size < INLINE_BYTES else (os.cpu_count() or 1)
    started = time.monotonic()
    skipped: Counter = Counter()
    counts = Counter()
    writers = _Writers(partial)
    with without_gc():  # results are rows without cycles; a step process's large heap made each collection cost
        with open_dump(dump) as stream:
            progress = ScanProgress(dump.name, size, stream.compressed_position, report)
            for result, json_bytes in scan_dump(stream, plan, workers, block_bytes, partial / _LABEL_SPILL):
                writers.add(result)
                skipped.update(result.skipped)
                counts.update(lines=result.lines, entities=len(result.entities), bad_rows=len(result.bad),
                              json_bytes=json_bytes)
                progress.update(counts["json_bytes"], counts["entities"])
            decoder = stream.decoder
    writers.close()
    counts["labels"] = _join_labels(partial, plan.row_bytes)
    shutil.rmtree(partial / _LABEL_SPILL)
    seconds = time.monotonic() - started
    progress.finish(counts["json_bytes"], counts["entities"])
    manifest = {
        "dump": str(dump), "dump_bytes": size, **counts, "skipped": dict(skipped), "seconds": round(seconds, 2),
        "mb_per_s": round(counts["json_bytes"] / 1e6 / seconds, 1) if seconds else None,
        "workers": workers, "decoder": decoder,
    }
    (partial / _MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return manifest


class _Writers:
    """Parquet files written a batch at a time, so no more than a batch of rows is ever held."""

    def __init__(self, folder: Path):
        self.schemas = {"entities": _ENTITIES, "bad_rows": _BAD}
        self.files = {name: pq.ParquetWriter(folder / f"{name}.parquet", pl.DataFrame(schema=schema).to_arrow().schema)
                      for name, schema in self.schemas.items()}
        self.rows: dict[str, list] = {"entities": [], "bad_rows": []}

    def add(self, result: BlockResult) -> None:
        self.rows["entities"] += result.entities
        self.rows["bad_rows"] += result.bad
        for name, rows in self.rows.items():
            if len(rows) >= _BATCH_ROWS:
                self._flush(name)

    def _flush(self, name: str) -> None:
        schema, rows = self.schemas[name], self.rows[name]
        if not rows:
            return
        # column by column: a list value read row by row costs polars a Series each
        columns = {key: [row[key] for row in rows] for key in schema}
        for key, dtype in schema.items():
            if dtype == pl.List(pl.String):  # ids joined, then split in one vectorised step
                joined = pl.Series(key, [_SEP.join(ids) for ids in columns[key]], dtype=pl.String)
                columns[key] = joined.str.split(_SEP).list.eval(pl.element().filter(pl.element() != ""))
        self.rows[name] = []
        self.files[name].write_table(pl.DataFrame(columns, schema=schema).to_arrow())

    def close(self) -> None:
        for name, writer in self.files.items():
            self._flush(name)
            writer.close()


def _join_labels(folder: Path, row_bytes: int) -> int:
    """Keep the labels of the ids that kept entities name (their values' items, units and classes); of an id
    seen twice, its first labels."""
    files = [str(f) for f in label_files(folder / _LABEL_SPILL)]
    with duckdb.connect() as con:
        con.execute(f"SET temp_directory = '{folder / 'tmp'}'")
        con.execute("SET memory_limit = '1GB'")
        con.execute(
            f"""COPY (
                SELECT s.id, arg_min(s.labels, s.line) AS labels
                FROM read_csv(?, delim = '\t', quote = '', escape = '', header = false, auto_detect = false,
                              columns = {{'id': 'VARCHAR', 'line': 'BIGINT', 'labels': 'VARCHAR'}},
                              max_line_size = {row_bytes + 64}) s
                WHERE s.id IN (SELECT DISTINCT unnest(refs) FROM read_parquet('{folder / 'entities.parquet'}'))
                GROUP BY s.id ORDER BY s.id
            ) TO '{folder / 'labels.parquet'}' (FORMAT parquet)""", [files])
        (count,) = con.execute(f"SELECT count(*) FROM read_parquet('{folder / 'labels.parquet'}')").fetchone()
    shutil.rmtree(folder / "tmp", ignore_errors=True)
    return count
