"""Rephrased articles: kept articles and real-text documents rewritten in other formats, judged by the same gates
against their source."""

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, counts, preview
from cosmo_assets.stages import filtering
from cosmo_assets.stages.real_text import load_real_text
from cosmo_assets.stages.rephrasing import judge_rephrasings, rephrasings, source_table, sources_of


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("rephrased_articles", partitions, kinds={"duckdb", "litellm"}, deps=["filtered_articles"],
           checks={"rephrased_contract": "Unique ids; each row derives from a source of the partition (a kept article, "
                                         "a real text, a document seed); kept rows have text and no reject reason."},
           pool="llm")
    def rephrased_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Kept articles and real-text documents (balance.yaml rephrased.sources: articles, real_text, documents)
        rewritten as question-and-answer, encyclopedic, tutorial, dialogue or simplified text (templates/rephrase/),
        each checked by the filter gates against its source (an article's seed facts, a document's own names and
        figures) and naming it in `derived_from`. With rephrased.share 0 no model is called."""
        from cosmo_assets.llm.client import open_client

        part = partition_of(context)
        config = cosmo.config
        articles = cosmo.storage.read_partition("filtered_articles", part)
        seeds = cosmo.storage.read_partition("seeds", part)
        outlines = filtering.with_seed_facts(cosmo.storage.read_partition("outlines", part), seeds)
        wanted = config.balance.rephrased
        real = load_real_text(config, part["language"]) if wanted.share and "real_text" in wanted.sources else None
        sources = sources_of(config, part["domain"], articles, outlines, seeds, real)
        asked = rephrasings(config, sources)
        completions, spent = [], 0.0
        if asked:
            tags = context.run.tags
            scope = tags.get("cosmo/budget_scope") or tags.get("dagster/backfill") or context.run.run_id
            with open_client(config.model, config.llm_cache_path(), config.llm_spend_path(), scope) as client:
                report = client.complete_all([r.request for r in asked])
            completions, spent = report.completions, report.spent_usd
        settings = config.filters.for_model(config.model.model)
        frame = judge_rephrasings(config, asked, completions, settings, part["language"])
        cosmo.storage.replace_partition("rephrased_articles", frame, part)
        kept = frame.filter(pl.col("kept"))
        reasons = frame.filter(~pl.col("kept")).explode("reject_reasons", empty_as_null=False)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "kept": kept.height,
                "rejected": frame.height - kept.height,
                "share": config.balance.rephrased.share,
                "by_format": counts(kept, "format"),
                "by_source": counts(kept, "source_kind"),
                "reject_reasons": counts(reasons, "reject_reasons"),
                "cost_usd_this_run": round(spent, 6),
                "preview": preview(kept, ["format", "derived_from", "text"]),
            },
            check_results=[check_result("rephrased_contract", contracts.check_rephrased(frame, source_table(sources)))],
        )

    return rephrased_articles
