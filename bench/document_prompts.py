"""Prompt diversity of document seeds against curated seeds: every domain reads the bundled document sample
(in a copy of configs/), outlines are planned without a model, and the figures of cosmo_assets/diversity.py
are printed for 20 curated prompts (a seeded draw) and the 20 document prompts.

    .venv/bin/python -m bench.document_prompts
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

import polars as pl
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR, load_config
from cosmo_assets.diversity import diversity_figures
from cosmo_assets.stages.outlines import plan_outlines
from cosmo_assets.stages.seeds import build_seeds

SAMPLE = "knowledge_base/documents/sample_en.jsonl"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "configs"
        shutil.copytree(DEFAULT_CONFIG_DIR, root)
        for path in (root / "domains").glob("*.yaml"):
            domain = yaml.safe_load(path.read_text(encoding="utf-8"))
            domain["sources"].append({"kind": "documents", "path": SAMPLE})
            path.write_text(yaml.safe_dump(domain), encoding="utf-8")
        config = load_config(root)
        curated, documents = [], []
        for name in config.domain_names:
            frame = plan_outlines(config, build_seeds(config, name, "en", None)).outlines
            curated += frame.filter(pl.col("seed_source") != "documents")["prompt"].to_list()
            documents += frame.filter(pl.col("seed_source") == "documents")["prompt"].to_list()
    drawn = random.Random(1).sample(curated, len(documents))
    for label, prompts in (("curated (drawn)", drawn), ("documents", documents)):
        figures = diversity_figures(prompts)
        print(f"{label:>16}: {figures['texts']} prompts, distinct 4-gram share {figures['distinct_4gram_share']}, "
              f"mean pairwise MinHash {figures['mean_pairwise_minhash_similarity']}, opening repetition {figures['opening_repetition']}")


if __name__ == "__main__":
    main()
