"""Partitions built from configs/: domain x language for the per-domain stages, language for releases."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig


def domain_language_partitions(config: CosmoConfig) -> dg.MultiPartitionsDefinition:
    # Dagster orders dimensions by name, so keys read "science|en".
    return dg.MultiPartitionsDefinition(
        {
            "domain": dg.StaticPartitionsDefinition(config.domain_names),
            "language": dg.StaticPartitionsDefinition(config.enabled_languages),
        }
    )


def language_partitions(config: CosmoConfig) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(config.enabled_languages)


def partition_of(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The partition being materialised, as column values: {"domain": ..., "language": ...} or {"language": ...}."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return {"language": key}
