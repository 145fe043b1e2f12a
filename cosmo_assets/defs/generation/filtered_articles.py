"""Filtered articles: drafts that pass every filter; the rest rejected with their reasons."""

import dagster as dg

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import contract_result, preview


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("filtered_articles", partitions,
           kinds={"duckdb", "polars"},
           checks={"filter_contract": "GX suite: schema, scores and lengths within the filters, kept share; every draft kept or rejected."},
           deps=["drafts"])
    def filtered_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Drafts that pass quality, language, outline, fact, benchmark and duplicate filters; the rest go
        to rejected_drafts with every reason. Kept articles' MinHash band keys go to minhash_index."""
        from cosmo_assets.stages import filtering  # numba and kin: in the step, not the code server

        part = partition_of(context)
        settings = cosmo.config.filters.for_model(cosmo.config.model.model)  # model_overrides in filters.yaml
        draft_frame = cosmo.storage.read_partition("drafts", part)
        outline_frame = filtering.with_seed_facts(
            cosmo.storage.read_partition("outlines", part), cosmo.storage.read_partition("seeds", part)
        )
        benchmarks = filtering.load_benchmarks(cosmo.config)
        judge = filtering.model_judge(cosmo.config, outline_frame) if settings.judge.enabled else None
        outcome = filtering.filter_drafts(draft_frame, settings, part["language"], outline_frame, benchmarks, judge)
        kept, rejected = outcome.kept, outcome.rejected
        cosmo.storage.replace_partition("filtered_articles", kept, part)
        cosmo.storage.replace_partition("rejected_drafts", rejected, part)
        cosmo.storage.replace_partition(
            "minhash_index", filtering.index_frame(outcome.index, settings, part["domain"], part["language"]), part
        )
        return dg.MaterializeResult(
            metadata={
                "kept": kept.height,
                "rejected": rejected.height,
                "kept_share": round(kept.height / draft_frame.height, 4) if draft_frame.height else 0.0,
                "reject_reasons": dg.MetadataValue.json(filtering.reason_counts(rejected)),
                "benchmark_matches": dg.MetadataValue.json(
                    dict(rejected.drop_nulls("benchmark_match").select("draft_id", "benchmark_match").iter_rows())
                ),
                "mean_quality_score": round(float(kept["quality_score"].mean() or 0.0), 4),
                "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in outcome.seconds.items()}),
                "preview": preview(kept, ["word_count", "quality_score", "text"]),
            },
            check_results=[
                contract_result("filter_contract", "filtered_articles", kept, cosmo, drafts=draft_frame, rejected=rejected)
            ],
        )

    return filtered_articles
