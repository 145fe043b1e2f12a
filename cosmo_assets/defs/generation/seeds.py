"""Seeds: the entities to write about, read from each domain's sources."""

from collections.abc import Sequence

import dagster as dg

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import contract_result, preview
from cosmo_assets.knowledge_base.wikidata_extract import dumps_of, ensure_extract
from cosmo_assets.stages.seeds import cluster_frame, read_seeds


def build(partitions: dg.PartitionsDefinition, upstream: Sequence[str] = ()) -> dg.AssetsDefinition:
    """`upstream`: the knowledge-base assets seeds read (the Wikidata extract when a domain reads a dump)."""

    @asset("seeds", partitions,
           kinds={"duckdb", "polars"}, deps=upstream,
           checks={"seeds_contract": "GX suite (cosmo_assets/contracts/suites.py): schema, unique ids, titles, known topic types; the quarantined share stays under seeds.yaml max_bad_share."})
    def seeds(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Entities to write about, one row each with its facts, read from the domain's sources; bad rows go to seed_quarantine."""
        part = partition_of(context)
        for dump in dumps_of(cosmo.config, part["domain"]):  # made here if missing, so its progress is in the run log
            ensure_extract(cosmo.config, dump, report=context.log.info)
        batch = read_seeds(cosmo.config, part["domain"], part["language"], cosmo.seed_limit())
        frame = batch.seeds
        cosmo.storage.replace_partition("seeds", frame, part)
        cosmo.storage.replace_partition("seed_quarantine", batch.quarantine, part)
        cosmo.storage.replace_partition("document_clusters", cluster_frame(batch.reports, part), part)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "quarantined": batch.quarantine.height,
                "bad_share": round(batch.bad_share, 4),
                "sources": dg.MetadataValue.json({r.source: r.as_metadata() for r in batch.reports}),
                **_skipped_unmapped(batch.reports),
                "topic_types": dg.MetadataValue.json(dict(frame.group_by("topic_type").len().iter_rows())),
                "preview": preview(frame, ["title", "topic_type", "source", "description"]),
                "quarantine_preview": preview(batch.quarantine, ["location", "reason", "detail"]),
            },
            check_results=[
                contract_result("seeds_contract", "seeds", frame, cosmo, quarantine=batch.quarantine, read=batch.read)
            ],
        )

    return seeds


def _skipped_unmapped(reports) -> dict:
    """Wikidata entities skipped for having no class mapped in seeds.yaml, by class with its label."""
    counted = {r.source: r.figures["skipped_unmapped"] for r in reports if "skipped_unmapped" in r.figures}
    return {"skipped_unmapped": dg.MetadataValue.json(counted)} if counted else {}
