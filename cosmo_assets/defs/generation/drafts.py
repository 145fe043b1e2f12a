"""Drafts: one model completion per outline."""

import dagster as dg
import polars as pl

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import contract_result, diversity_result, preview
from cosmo_assets.diversity import diversity_figures
from cosmo_assets.progress import DraftProgress
from cosmo_assets.stages.drafts import continuation_requests, draft_requests, draft_rows, join_continuations
from cosmo_assets.stages.plan import partition_forecast


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("drafts", partitions, kinds={"duckdb", "litellm"}, deps=["outlines"],
           checks={"drafts_contract": "GX suite: schema, one draft per outline, failed share under the limit, tokens and cost.",
                   "drafts_diversity": "WARN when the drafts' diversity figures cross the floors of filters.yaml diversity."},
           pool="llm")  # model requests in flight across runs: pool limit x model.max_in_flight
    def drafts(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """One model completion per outline, with tokens, cost, latency, attempts, cache hit and status.
        Answers come from the response cache when the same prompt was answered before; budgets in
        configs/model.yaml stop generation cleanly, recording the drafts not made as skipped_budget."""
        from cosmo_assets.llm.client import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED_BUDGET, open_client

        part = partition_of(context)
        settings = cosmo.config.model
        # A run budget is shared by every partition of one main command or one backfill.
        tags = context.run.tags
        run_scope = tags.get("cosmo/budget_scope") or tags.get("dagster/backfill") or context.run.run_id
        # open_client runs the preflight: a wrong model name, base URL or key fails here, before partition work.
        with open_client(settings, cosmo.config.llm_cache_path(), cosmo.config.llm_spend_path(), run_scope) as client:
            outline_rows = cosmo.storage.read_partition("outlines", part)
            requests = draft_requests(outline_rows, settings)
            forecast = partition_forecast(cosmo.config, cosmo.storage, f"{part['domain']}|{part['language']}", outline_rows)
            context.log.info(f"drafting {len(requests)} outlines on {settings.model}, {client.limiter.describe()} in flight; "
                             f"forecast {forecast.tokens:,} tokens for {forecast.to_draft} uncached")
            progress = DraftProgress(context, len(requests), f"{part['domain']}|{part['language']}", forecast.usd)
            report = client.complete_all(requests, on_done=progress.update)
            completions, continued, more = report.completions, set(), None
            extra = continuation_requests(outline_rows, completions, settings) if settings.continue_truncated else []
            if extra:  # drafts that stopped at max_tokens: one request each to finish them
                context.log.info(f"continuing {len(extra)} drafts that stopped at max_tokens")
                more = client.complete_all(extra)
                completions, continued = join_continuations(completions, more.completions, part["language"])
        frame = draft_rows(outline_rows, completions, settings, continued)
        cosmo.storage.replace_partition("drafts", frame, part)
        skipped = report.count(STATUS_SKIPPED_BUDGET)
        if report.budget_stop:
            context.log.warning(
                f"{report.budget_stop}: generation stopped; {report.count(STATUS_OK)} drafts kept, {skipped} not "
                f"generated (status {STATUS_SKIPPED_BUDGET}). Raise the budget in configs/model.yaml and re-run: "
                "drafts already made come from the cache"
            )
        tokens = int(frame["completion_tokens"].sum() or 0)
        variety = cosmo.config.filters.diversity
        figures = diversity_figures(frame.filter(pl.col("status") == "ok")["text"].to_list(),
                                    variety.phrases(part["language"]), variety.opening_words)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "model": settings.model,
                "generated": report.count(STATUS_OK),
                "failed": report.count(STATUS_FAILED),
                "skipped_budget": skipped,
                "budget_stop": report.budget_stop or "none",
                "cache_hits": report.cache_hits,
                "continued": len(continued),
                "model_calls": report.model_calls + (more.model_calls if more else 0),
                "prompt_tokens": int(frame["prompt_tokens"].sum() or 0),
                "completion_tokens": tokens,
                "cost_usd": float(frame["cost_usd"].sum() or 0.0),
                "cost_usd_this_run": round(report.spent_usd + (more.spent_usd if more else 0.0), 6),
                "tokens_this_run": report.spent_tokens + (more.spent_tokens if more else 0),
                "wall_s": round(report.wall_s, 2),
                "tokens_per_s": round(report.spent_tokens / report.wall_s, 1) if report.wall_s else 0.0,
                "in_flight": client.limiter.describe(),
                "forecast": dg.MetadataValue.json({
                    "to_draft": forecast.to_draft, "tokens": forecast.tokens, "usd": forecast.usd, "wall_s": round(forecast.wall_s, 1),
                    "actual_tokens": report.spent_tokens, "actual_usd": round(report.spent_usd, 6), "actual_wall_s": round(report.wall_s, 1),
                }),
                "draft_diversity": dg.MetadataValue.json(figures),
                "preview": preview(frame, ["status", "completion_tokens", "text"]),
            },
            check_results=[contract_result("drafts_contract", "drafts", frame, cosmo, outlines=outline_rows),
                           diversity_result("drafts_diversity", {f"{part['domain']}|{part['language']}": figures}, variety)],
        )

    return drafts
