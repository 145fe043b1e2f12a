"""Quota allocation: which candidates the release takes so its shares meet the quotas."""

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import RELEASE_GROUP, asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result
from cosmo_assets.stages import quotas


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("quota_allocation", partitions, kinds={"duckdb", "python"}, deps=["release_candidates"],
           checks={"allocation_contract": "Every candidate decided once; the planned size selected."},
           group=RELEASE_GROUP, eager=True)
    def quota_allocation(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Which candidates the release takes so its shares meet the quotas in balance.yaml, and why the others are out."""
        part = partition_of(context)
        candidates = cosmo.storage.read_partition("release_candidates", part)
        allocation, plan = quotas.allocate(candidates, cosmo.config.balance)
        cosmo.storage.replace_partition("quota_allocation", allocation.with_columns(language=pl.lit(part["language"])), part)
        context.log.info(f"releasing {plan.size} of {plan.candidates} candidates: {plan.size_reason}")
        return dg.MaterializeResult(
            metadata={
                "candidates": plan.candidates,
                "capacity": plan.capacity,
                "min_size": plan.min_size,
                "size": plan.size,
                "size_reason": plan.size_reason,
                "shortfall": plan.shortfall,
                "decisions": dg.MetadataValue.json(plan.decisions),
                "targets": dg.MetadataValue.json(plan.targets),
                "supply": dg.MetadataValue.json(plan.supply),
            },
            check_results=[check_result("allocation_contract", contracts.check_allocation(allocation, candidates, plan.size))],
        )

    return quota_allocation
