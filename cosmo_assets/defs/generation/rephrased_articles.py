"""Rephrased articles: kept articles rewritten in other formats, judged by the same gates against their source."""

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, counts, preview
from cosmo_assets.stages import filtering
from cosmo_assets.stages.rephrasing import judge_rephrasings, rephrasings


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("rephrased_articles", partitions, kinds={"duckdb", "litellm"}, deps=["filtered_articles"],
           checks={"rephrased_contract": "Unique ids; each row derives from a kept article of the partition; kept rows have "
                                         "text and no reject reason."},
           pool="llm")
    def rephrased_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Kept articles rewritten as question-and-answer, encyclopedic, tutorial, dialogue or simplified text
        (templates/rephrase/, balance.yaml rephrased), each checked by the filter gates against the seed facts of
        the article it rewrites and naming it in `derived_from`. With rephrased.share 0 no model is called."""
        from cosmo_assets.llm.client import open_client

        part = partition_of(context)
        config = cosmo.config
        articles = cosmo.storage.read_partition("filtered_articles", part)
        outlines = filtering.with_seed_facts(cosmo.storage.read_partition("outlines", part),
                                             cosmo.storage.read_partition("seeds", part))
        asked = rephrasings(config, articles, outlines)
        completions, spent = [], 0.0
        if asked:
            tags = context.run.tags
            scope = tags.get("cosmo/budget_scope") or tags.get("dagster/backfill") or context.run.run_id
            with open_client(config.model, config.llm_cache_path(), config.llm_spend_path(), scope) as client:
                report = client.complete_all([r.request for r in asked])
            completions, spent = report.completions, report.spent_usd
        settings = config.filters.for_model(config.model.model)
        frame = judge_rephrasings(config, asked, completions, outlines, settings, part["language"])
        cosmo.storage.replace_partition("rephrased_articles", frame, part)
        kept = frame.filter(pl.col("kept"))
        reasons = frame.filter(~pl.col("kept")).explode("reject_reasons")
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "kept": kept.height,
                "rejected": frame.height - kept.height,
                "share": config.balance.rephrased.share,
                "by_format": counts(kept, "format"),
                "reject_reasons": counts(reasons, "reject_reasons"),
                "cost_usd_this_run": round(spent, 6),
                "preview": preview(kept, ["format", "derived_from", "text"]),
            },
            check_results=[check_result("rephrased_contract", contracts.check_rephrased(frame, articles))],
        )

    return rephrased_articles
