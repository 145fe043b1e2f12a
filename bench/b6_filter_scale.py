"""B6: one large partition through the streamed filter stage, against the in-memory filter on a sample.

    nice -n 10 .venv/bin/python -m bench.b6_filter_scale                 # 1,000,000 drafts of ~400 words
    nice -n 10 .venv/bin/python -m bench.b6_filter_scale --docs 50000    # smaller

Three child processes, each reporting its own peak memory (max RSS): one writes the synthetic drafts into
the drafts table of a DuckDB file a chunk at a time (10% are near copies, 1 to 6 words replaced, of a
draft in the same or the previous chunk); one runs the stage as the asset does (filter_run.filter_partition:
chunks read from storage, scratch DuckDB, streamed partition replaces), then filter_contract on what it
kept (contracts/stored_articles.py), as the asset does; one runs B4's in-memory
filter (filtering.filter_drafts, one chunk) on the first --baseline-docs drafts. Prints the stage's
per-document rate as a ratio of the baseline's (wall and CPU), its peak RSS (alone, and with the check
after it), the check's time, and the recall of the planted pairs (a pair is caught when one of the two is
rejected as a duplicate of the other). --generated FILE reuses the drafts a previous run generated.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

PART = {"domain": "history", "language": "en"}  # a configured domain, so filter_contract judges it as shipped


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def generate(database: Path, docs: int, words: int, planted: float, chunk: int, seed: int) -> dict:
    """Write `docs` drafts to the drafts table, `chunk` at a time; planted pairs go to table planted_pairs."""
    from bench.b4_filter import render, vocabulary
    from cosmo_assets.config import load_config
    from cosmo_assets.storage import create_tables

    rng = np.random.default_rng(seed)
    vocab, freq = vocabulary(load_config().root)
    p = freq / freq.sum()
    previous = np.zeros((0, words), np.int32)
    with duckdb.connect(str(database), config={"memory_limit": "512MB"}) as con:  # written rows go to disk
        create_tables(con, "drafts")
        con.execute("CREATE TABLE planted_pairs (original VARCHAR, copy VARCHAR)")
        for start in range(0, docs, chunk):
            n = min(chunk, docs - start)
            ids = rng.choice(vocab.size, size=(n, words), p=p).astype(np.int32)
            copies = np.flatnonzero(rng.random(n) < planted)
            pool = np.concatenate([previous, ids])  # originals: the previous chunk or this one, before the copy
            offset = previous.shape[0]
            originals = np.array([rng.integers(0, offset + c) for c in copies], np.int64) if copies.size else copies
            for row, original in zip(copies, originals):
                ids[row] = pool[original]
                positions = rng.choice(words - 1, size=int(rng.integers(1, 7)), replace=False)
                ids[row, positions] = rng.integers(0, vocab.size, size=positions.size)
                pool[offset + row] = ids[row]
            frame = pl.DataFrame({
                "draft_id": [f"d{i:08d}" for i in range(start, start + n)], "outline_id": "o",
                "seed_id": [f"s{i:08d}" for i in range(start, start + n)], "domain": PART["domain"], "language": "en",
                "model": "bench/synthetic", "status": "ok",
            }).hstack(render(ids.astype(np.int64), vocab))
            pairs = pl.DataFrame({"original": [f"d{start - offset + int(o):08d}" for o in originals],
                                  "copy": [f"d{start + int(c):08d}" for c in copies]}, schema={"original": pl.String, "copy": pl.String})
            for name, rows, table in (("incoming", frame, '"drafts"'), ("incoming_pairs", pairs, "planted_pairs")):
                con.register(name, rows.to_arrow())
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
                con.unregister(name)
            previous = ids
    return {"peak_gib": _peak_gib()}


def _warm_up() -> None:
    """numba compiles (or loads its cache) and the language model loads, outside the timed part."""
    from bench.b4_filter import synthetic_drafts
    from cosmo_assets.config import load_config
    from cosmo_assets.stages import filtering

    config = load_config()
    warm, _ = synthetic_drafts(200, 400, 0.1, 1, config.root)
    filtering.filter_drafts(warm, config.filters, "en", benchmarks=filtering.load_benchmarks(config))


def stream(database: Path, chunk_rows: int | None) -> dict:
    from cosmo_assets.config import load_config
    from cosmo_assets.stages import filter_run, filtering
    from cosmo_assets.storage import Storage

    _warm_up()
    config = load_config()
    storage = Storage(database)  # imports dagster-duckdb before the clock starts
    settings = config.filters if chunk_rows is None else config.filters.model_copy(update={"chunk_rows": chunk_rows})
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = filter_run.filter_partition(storage, PART, settings, filtering.load_benchmarks(config))
    wall, cpu, stage_peak = time.perf_counter() - started, time.process_time() - cpu_started, _peak_gib()
    # Then filter_contract, as the asset runs it in the same process (great-expectations imported untimed).
    from cosmo_assets.contracts.stored_articles import check_stored_articles

    check_started = time.perf_counter()
    outcome = check_stored_articles(storage, PART, config, settings.chunk_rows)
    return {"wall_s": wall, "cpu_s": cpu, "docs": summary.drafts,
            "kept": summary.kept, "reasons": summary.reject_reasons, "seconds": summary.seconds,
            "chunk_rows": settings.chunk_rows, "peak_gib": stage_peak, "check_s": time.perf_counter() - check_started,
            "check_rows": outcome.rows, "check": outcome.description[:300], "asset_peak_gib": _peak_gib()}


def baseline(database: Path, docs: int) -> dict:
    """The stage as it was before streaming, on a sample: the whole partition read, filtered in one chunk
    (B4's filter_drafts, timed alone too) and written back."""
    from cosmo_assets.config import load_config
    from cosmo_assets.stages import filtering
    from cosmo_assets.storage import Storage

    _warm_up()
    config = load_config()
    with duckdb.connect(str(database), read_only=True) as con:
        sample = con.execute('SELECT * FROM "drafts" ORDER BY draft_id LIMIT $n', {"n": docs}).pl()
    storage = Storage(database.with_name("baseline.duckdb"))
    storage.replace_partition("drafts", sample, PART)
    del sample
    started, cpu_started = time.perf_counter(), time.process_time()
    frame = storage.read_partition("drafts", PART)
    filter_started, filter_cpu_started = time.perf_counter(), time.process_time()
    outcome = filtering.filter_drafts(frame, config.filters, "en", benchmarks=filtering.load_benchmarks(config),
                                      chunk_rows=frame.height)
    filter_wall, filter_cpu = time.perf_counter() - filter_started, time.process_time() - filter_cpu_started
    storage.replace_partition("filtered_articles", outcome.kept, PART)
    storage.replace_partition("rejected_drafts", outcome.rejected, PART)
    storage.replace_partition("minhash_index", filtering.index_frame(outcome.index, config.filters, **PART), PART)
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu_started, "docs": frame.height,
            "filter_wall_s": filter_wall, "filter_cpu_s": filter_cpu, "peak_gib": _peak_gib()}


def recall(database: Path) -> tuple[int, int, int, int]:
    """(planted pairs, caught, pairs whose two drafts pass every other rule, caught among those). A pair is
    caught when the two drafts are not both kept: one was rejected as a duplicate (of the other, or of a
    third copy of the same text)."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("""
            WITH failed AS (SELECT draft_id FROM rejected_drafts
                            WHERE len(list_filter(reject_reasons, r -> r NOT IN ('exact_duplicate', 'near_duplicate'))) > 0),
                 judged AS (
                    SELECT p.copy IN (SELECT draft_id FROM rejected_drafts)
                           OR p.original IN (SELECT draft_id FROM rejected_drafts) AS caught,
                           p.copy NOT IN (SELECT draft_id FROM failed) AND p.original NOT IN (SELECT draft_id FROM failed) AS clean
                    FROM planted_pairs p)
            SELECT count(*), count(*) FILTER (WHERE caught), count(*) FILTER (WHERE clean),
                   count(*) FILTER (WHERE clean AND caught) FROM judged
        """).fetchone()


def _child(step: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.b6_filter_scale", "--step", step, *args],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{step} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--planted", type=float, default=0.10)
    parser.add_argument("--chunk-rows", type=int, default=None, help="filters.yaml chunk_rows when absent")
    parser.add_argument("--baseline-docs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generated", type=Path, help="a DuckDB file a previous run's generate step wrote with the same "
                        "--docs/--words/--planted/--seed (e.g. kept with cp from its b6-* folder), copied instead of generating")
    parser.add_argument("--step", choices=("generate", "stream", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:
        database = Path(args.database)
        if args.step == "generate":
            out = generate(database, args.docs, args.words, args.planted, 20_000, args.seed)
        elif args.step == "stream":
            out = stream(database, args.chunk_rows)
        else:
            out = baseline(database, args.baseline_docs)
        print(json.dumps(out))
        return

    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="b6-") as folder:
        database = Path(folder) / "cosmo.duckdb"
        common = ["--database", str(database), "--docs", str(args.docs), "--words", str(args.words),
                  "--planted", str(args.planted), "--seed", str(args.seed), "--baseline-docs", str(args.baseline_docs)]
        started = time.perf_counter()
        if args.generated:
            shutil.copyfile(args.generated, database)
            with duckdb.connect(str(database), read_only=True) as con:
                held = con.execute('SELECT count(*) FROM "drafts"').fetchone()[0]
            if held != args.docs:
                sys.exit(f"--generated {args.generated}: holds {held:,} drafts, expected --docs {args.docs:,}")
            print(f"copied {held:,} generated drafts from {args.generated}")
        else:
            made = _child("generate", *common)
            print(f"generated {args.docs:,} drafts of {args.words} words in {time.perf_counter() - started:.0f} s, "
                  f"peak RSS {made['peak_gib']:.2f} GiB, file {database.stat().st_size / 2**20:,.0f} MiB")
        base = _child("baseline", *common)
        streamed = _child("stream", *common, *(["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []))
        planted, caught, clean, clean_caught = recall(database)

    base_wall, base_cpu = base["docs"] / base["wall_s"], base["docs"] / base["cpu_s"]
    b4_wall, b4_cpu = base["docs"] / base["filter_wall_s"], base["docs"] / base["filter_cpu_s"]
    wall, cpu = streamed["docs"] / streamed["wall_s"], streamed["docs"] / streamed["cpu_s"]
    print(f"baseline, the in-memory stage on {base['docs']:,} drafts (read, filter_drafts in one chunk, write): "
          f"{base_wall:,.0f} docs/s wall, {base_cpu:,.0f} docs per CPU-second; filter_drafts alone (B4's rate): "
          f"{b4_wall:,.0f} docs/s wall, {b4_cpu:,.0f} docs per CPU-second; peak RSS {base['peak_gib']:.2f} GiB")
    print(f"streamed stage on {streamed['docs']:,} drafts, chunk_rows {streamed['chunk_rows']:,}: {streamed['wall_s']:.0f} s, "
          f"{wall:,.0f} docs/s wall, {cpu:,.0f} docs per CPU-second; step seconds (wall) "
          f"{json.dumps({k: round(v, 1) for k, v in streamed['seconds'].items()})}")
    print(f"kept {streamed['kept']:,}; reasons {streamed['reasons']}")
    print(f"rate ratio streamed / in-memory stage: CPU {cpu / base_cpu:.2f}, wall {wall / base_wall:.2f}; "
          f"streamed stage (with its storage reads and writes) / B4's filter_drafts: CPU {cpu / b4_cpu:.2f}, "
          f"wall {wall / b4_wall:.2f} (target >= 0.8; wall is at the mercy of the neighbours)")
    print(f"peak RSS of the streamed stage: {streamed['peak_gib']:.2f} GiB (target < 6); with filter_contract after it, "
          f"as in the asset: {streamed['asset_peak_gib']:.2f} GiB")
    print(f"filter_contract on the {streamed['check_rows']:,} kept articles: {streamed['check_s']:.0f} s "
          f"({streamed['check_rows'] / max(streamed['check_s'], 1e-9):,.0f} rows/s wall): {streamed['check']}")
    print(f"near-duplicate recall: {caught / max(planted, 1):.4f} of {planted:,} planted pairs; "
          f"{clean_caught / max(clean, 1):.4f} of the {clean:,} whose drafts pass every other rule (target >= 0.95)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
