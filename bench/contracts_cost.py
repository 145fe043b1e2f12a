"""What the great-expectations contracts cost: GX's import time, and one suite run per partition
against writing that partition to DuckDB (the baseline, measured in the same run).

    .venv/bin/python -m bench.contracts_cost            # partitions of 6 (the default run) and 80 seeds
    .venv/bin/python -m bench.contracts_cost --seeds 6 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORT_TIME = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, repeat: int) -> float:
    """Median wall time of importing `module` in a fresh interpreter."""
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", IMPORT_TIME.format(module=module)],
                             capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def partition_frames(config, seeds_per_partition: int | None):
    """One real partition through every stage, drafts from a canned reply (no model is called)."""
    from cosmo_assets.llm.client import Completion
    from cosmo_assets.stages.drafts import draft_requests, draft_rows
    from cosmo_assets.stages.filtering import filter_drafts
    from cosmo_assets.stages.outlines import build_outlines
    from cosmo_assets.stages.seeds import build_seeds
    from cosmo_assets_tests.fake_llm_server import default_reply  # the same canned article the tests use

    domain = config.domain_names[0]
    seeds = build_seeds(config, domain, "en", seeds_per_partition)
    outlines = build_outlines(config, seeds)
    completions = []
    for request, title in zip(draft_requests(outlines, config.model), outlines["title"]):
        text = f"{title}\n\n" + default_reply(request.messages[-1]["content"])
        completions.append(Completion(key=request.key, text=text, status="ok", prompt_tokens=200,
                                      completion_tokens=len(text.split()), latency_s=1.0, attempts=1, finish_reason="stop"))
    drafts = draft_rows(outlines, completions, config.model)
    kept, rejected = filter_drafts(drafts, config.filters, "en")
    assert kept.height, "the canned article should pass the filters"
    return {"domain": domain, "seeds": seeds, "outlines": outlines, "drafts": drafts,
            "filtered_articles": kept, "rejected_drafts": rejected}


def measure(config, seeds_per_partition: int | None, repeat: int, workdir: Path) -> list[tuple[str, int, float, float]]:
    from cosmo_assets.contracts.validation import check_partition
    from cosmo_assets.stages.balancing import build_balanced_dataset
    from cosmo_assets.storage import Storage

    frames = partition_frames(config, seeds_per_partition)
    part = {"domain": frames["domain"], "language": "en"}
    storage = Storage(workdir / f"bench_{seeds_per_partition}.duckdb")
    upstream = {
        "outlines": {"seeds": frames["seeds"]},
        "drafts": {"outlines": frames["outlines"]},
        "filtered_articles": {"drafts": frames["drafts"], "rejected": frames["rejected_drafts"]},
    }
    rows = []
    for table in ("seeds", "outlines", "drafts", "filtered_articles", "balanced_dataset"):
        if table == "balanced_dataset":
            storage.replace_partition("rejected_drafts", frames["rejected_drafts"], part)
            with storage.connect(read_only=True) as con:
                frames[table] = build_balanced_dataset(con, config.balance, "en")
            key = {"language": "en"}
        else:
            key = part
        frame = frames[table]
        write, check = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            storage.replace_partition(table, frame, key)
            write.append(time.perf_counter() - started)
            started = time.perf_counter()
            outcome = check_partition(table, frame, config, **upstream.get(table, {}))
            check.append(time.perf_counter() - started)
            assert outcome.passed, outcome.description
        rows.append((table, frame.height, statistics.median(write), statistics.median(check)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[6, 80], help="seeds per partition (0 = every seed)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    baseline_import = import_seconds("cosmo_assets.definitions", 3)
    gx_import = import_seconds("great_expectations", 3)
    print(f"import cosmo_assets.definitions (baseline): {baseline_import:.2f} s")
    print(f"import great_expectations:                  {gx_import:.2f} s  ({gx_import / baseline_import:.2f}x the definitions)")

    from cosmo_assets.config import load_config
    from cosmo_assets.contracts.validation import check_partition  # noqa: F401 - pay the import before timing
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        for seeds in args.seeds:
            print(f"\npartition of {seeds or 'every'} seeds, median of {args.repeat}:")
            print(f"{'table':<18} {'rows':>5} {'write (baseline)':>17} {'GX suite':>9} {'ratio':>6}")
            for table, n, write, check in measure(config, seeds or None, args.repeat, Path(tmp)):
                print(f"{table:<18} {n:>5} {write * 1000:>14.0f} ms {check * 1000:>6.0f} ms {check / write:>5.1f}x")


if __name__ == "__main__":
    main()
