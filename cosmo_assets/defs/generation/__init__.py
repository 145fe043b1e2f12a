"""The per-domain stages as assets: seeds -> outlines -> drafts -> filtered articles. Each reads its inputs
from DuckDB, calls a plain stage function, replaces exactly its own partition, and checks what it just wrote."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.generation import drafts, filtered_articles, outlines, rephrased_articles, seeds
from cosmo_assets.defs.generation.wikidata_extract import knowledge_base_keys
from cosmo_assets.defs.partitions import domain_language_partitions


def build_generation_assets(config: CosmoConfig) -> list[dg.AssetsDefinition]:
    partitions = domain_language_partitions(config)
    first = seeds.build(partitions, upstream=knowledge_base_keys(config))
    return [first, *(module.build(partitions) for module in (outlines, drafts, filtered_articles, rephrased_articles))]
