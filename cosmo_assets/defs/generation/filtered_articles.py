"""Filtered articles: drafts that pass every filter; the rest rejected with their reasons."""

import dagster as dg

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, preview


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("filtered_articles", partitions,
           kinds={"duckdb", "polars"},
           checks={"filter_contract": "GX suite: schema, scores and lengths within the filters, kept share; every draft kept or rejected."},
           deps=["drafts"])
    def filtered_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Drafts that pass quality, language, outline, fact, benchmark and duplicate filters; the rest go
        to rejected_drafts with every reason. Kept articles' MinHash band keys go to minhash_index."""
        from cosmo_assets.stages import filter_run, filtering  # numba and kin: in the step, not the code server

        part = partition_of(context)
        settings = cosmo.config.filters.for_model(cosmo.config.model.model)  # model_overrides in filters.yaml
        judge_for = (lambda outlines: filtering.model_judge(cosmo.config, outlines)) if settings.judge.enabled else None
        # Streamed: settings.chunk_rows drafts at a time, duplicates resolved across the whole partition.
        summary = filter_run.filter_partition(
            cosmo.storage, part, settings, filtering.load_benchmarks(cosmo.config), judge_for
        )
        # The contract reads the kept articles a chunk at a time and judges the whole partition in SQL.
        from cosmo_assets.contracts.stored_articles import check_stored_articles  # GX: only when the check runs

        outcome = check_stored_articles(cosmo.storage, part, cosmo.config, settings.chunk_rows)
        first = cosmo.storage.query(
            'SELECT word_count, quality_score, text FROM "filtered_articles" WHERE domain = $domain AND language = $language '
            "ORDER BY draft_id LIMIT 5", part, table="filtered_articles",
        )
        return dg.MaterializeResult(
            metadata={
                "kept": summary.kept,
                "rejected": summary.rejected,
                "kept_share": round(summary.kept / summary.drafts, 4) if summary.drafts else 0.0,
                "reject_reasons": dg.MetadataValue.json(summary.reject_reasons),
                "benchmark_matches": dg.MetadataValue.json(summary.benchmark_matches),
                "mean_quality_score": round(summary.mean_quality_score, 4),
                "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in summary.seconds.items()}),
                "preview": preview(first, ["word_count", "quality_score", "text"]),
            },
            check_results=[check_result("filter_contract", outcome)],
        )

    return filtered_articles
