"""Rephrasing real-text documents on the embedded model: how many rewrites of the bundled real texts
(configs/real_text/sample_en.jsonl) and document seeds (knowledge_base/documents/sample_en.jsonl, read by
every domain in a copy of configs/) SmolLM2-135M gets past the filter gates, and why the rest are rejected:
the figure behind balance.yaml rephrased.share 0 on the embedded model. Each source is rewritten in
`--formats` formats (per_article), through the stage's own functions and the one LLM client.

    nice -n 10 .venv/bin/python -m bench.rephrase_embedded              # 32 documents, one rewrite each
    nice -n 10 .venv/bin/python -m bench.rephrase_embedded --formats 5  # every format: 5 times as long
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR, load_config
from cosmo_assets.config.balance import REPHRASE_FORMATS
from cosmo_assets.llm.client import open_client
from cosmo_assets.stages.real_text import load_real_text
from cosmo_assets.stages.rephrasing import document_sources, judge_rephrasings, real_text_sources, rephrasings
from cosmo_assets.stages.seeds import build_seeds

SAMPLE = "knowledge_base/documents/sample_en.jsonl"


def _config(root: Path, formats: int):
    shutil.copytree(DEFAULT_CONFIG_DIR, root)
    for path in (root / "domains").glob("*.yaml"):
        domain = yaml.safe_load(path.read_text(encoding="utf-8"))
        domain["sources"].append({"kind": "documents", "path": SAMPLE})
        path.write_text(yaml.safe_dump(domain), encoding="utf-8")
    balance = yaml.safe_load((root / "balance.yaml").read_text(encoding="utf-8"))
    balance["rephrased"].update(share=0.2, sources=["real_text", "documents"], per_article=formats)
    (root / "balance.yaml").write_text(yaml.safe_dump(balance), encoding="utf-8")
    return load_config(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", type=int, default=1, choices=range(1, len(REPHRASE_FORMATS) + 1),
                        help="rewrites per document, each in another format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp) / "configs", args.formats)
        real = load_real_text(config, "en")
        sources = []
        for name in config.domain_names:
            sources += real_text_sources(config, real, name) + document_sources(build_seeds(config, name, "en", None))
        asked = rephrasings(config, sources)
        started = time.perf_counter()
        with open_client(config.model, Path(tmp) / "cache.sqlite", Path(tmp) / "spend.sqlite", "bench") as client:
            report = client.complete_all([r.request for r in asked])
        seconds = time.perf_counter() - started
        frame = judge_rephrasings(config, asked, report.completions, config.filters.for_model(config.model.model), "en")
    print(f"model {config.model.model}: {len(sources)} documents, {frame.height} rewrites in {seconds:.0f} s")
    for (kind,), part in sorted(frame.group_by(["source_kind"])):
        print(f"  {kind:>9}: {part.filter(pl.col('kept')).height}/{part.height} kept")
    for (fmt,), part in sorted(frame.group_by(["format"])):
        print(f"  {fmt:>15}: {part.filter(pl.col('kept')).height}/{part.height} kept")
    reasons = Counter(r for rs in frame.filter(~pl.col("kept"))["reject_reasons"].to_list() for r in rs)
    print("  reject reasons (rewrites each fired for): " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    coverage = frame["fact_coverage"].drop_nulls()
    print(f"  names and figures of the extract kept: mean {coverage.mean():.2f} over {coverage.len()} rewrites with some")


if __name__ == "__main__":
    main()
