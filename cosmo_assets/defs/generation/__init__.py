"""The per-domain stages as assets: seeds -> outlines -> drafts -> filtered articles. Each reads its inputs
from DuckDB, calls a plain stage function, replaces exactly its own partition, and checks what it just wrote."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.generation import drafts, filtered_articles, outlines, seeds
from cosmo_assets.defs.partitions import domain_language_partitions


def build_generation_assets(config: CosmoConfig) -> list[dg.AssetsDefinition]:
    partitions = domain_language_partitions(config)
    return [module.build(partitions) for module in (seeds, outlines, drafts, filtered_articles)]
