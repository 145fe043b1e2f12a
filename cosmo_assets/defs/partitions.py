"""Partitions built from configs/: domain x language for the per-domain stages, language for releases;
and the one place Dagster partition keys are read and written as {"domain": ..., "language": ...}."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.verdicts import parse_partition_key


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


def partition_dict(key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """A Dagster partition key as column values: {"domain": ..., "language": ...} or {"language": ...}."""
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return parse_partition_key(key)  # a multi-partition key read back from storage as a plain string


def partition_of(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The partition being materialised, as column values."""
    return partition_dict(context.partition_key)


def partitions_of(partitions_def: dg.PartitionsDefinition | None) -> list[dict[str, str]]:
    if partitions_def is None:
        return []
    return [partition_dict(k) for k in partitions_def.get_partition_keys()]


def dagster_key(partition: Mapping[str, str]) -> str | dg.MultiPartitionKey:
    """Column values back as the key Dagster expects for a run request."""
    return dg.MultiPartitionKey(dict(partition)) if len(partition) > 1 else partition["language"]
