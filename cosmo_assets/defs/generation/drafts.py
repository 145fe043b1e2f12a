"""Drafts: one model completion per outline."""

import time

import dagster as dg
import polars as pl

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import contract_result, preview
from cosmo_assets.diversity import diversity_figures
from cosmo_assets.stages.drafts import draft_requests, draft_rows


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("drafts", partitions, kinds={"duckdb", "litellm"}, deps=["outlines"],
           checks={"drafts_contract": "GX suite: schema, one draft per outline, failed share under the limit, tokens and cost."},
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
            context.log.info(f"drafting {len(requests)} outlines on {settings.model}, {client.in_flight} in flight")
            progress = DraftProgress(context, len(requests))
            report = client.complete_all(requests, on_done=progress.update)
        frame = draft_rows(outline_rows, report.completions, settings)
        cosmo.storage.replace_partition("drafts", frame, part)
        skipped = report.count(STATUS_SKIPPED_BUDGET)
        if report.budget_stop:
            context.log.warning(
                f"{report.budget_stop}: generation stopped; {report.count(STATUS_OK)} drafts kept, {skipped} not "
                f"generated (status {STATUS_SKIPPED_BUDGET}). Raise the budget in configs/model.yaml and re-run: "
                "drafts already made come from the cache"
            )
        tokens = int(frame["completion_tokens"].sum() or 0)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "model": settings.model,
                "generated": report.count(STATUS_OK),
                "failed": report.count(STATUS_FAILED),
                "skipped_budget": skipped,
                "budget_stop": report.budget_stop or "none",
                "cache_hits": report.cache_hits,
                "model_calls": report.model_calls,
                "prompt_tokens": int(frame["prompt_tokens"].sum() or 0),
                "completion_tokens": tokens,
                "cost_usd": float(frame["cost_usd"].sum() or 0.0),
                "cost_usd_this_run": round(report.spent_usd, 6),
                "tokens_this_run": report.spent_tokens,
                "wall_s": round(report.wall_s, 2),
                "tokens_per_s": round(report.spent_tokens / report.wall_s, 1) if report.wall_s else 0.0,
                "draft_diversity": dg.MetadataValue.json(diversity_figures(frame.filter(pl.col("status") == "ok")["text"].to_list())),
                "preview": preview(frame, ["status", "completion_tokens", "text"]),
            },
            check_results=[contract_result("drafts_contract", "drafts", frame, cosmo, outlines=outline_rows)],
        )

    return drafts


class DraftProgress:
    """Logs done/total, tokens/s and cost at intervals while drafts arrive."""

    def __init__(self, context: dg.AssetExecutionContext, total: int, every_s: float = 10.0):
        self.context, self.total, self.every_s = context, total, every_s
        self.done = self.tokens = self.cache_hits = self.failed = 0
        self.cost = 0.0
        self.started = self.last = time.perf_counter()

    def update(self, completion) -> None:
        self.done += 1
        self.cache_hits += completion.cache_hit
        self.failed += completion.status != "ok"
        self.tokens += completion.paid_tokens  # tokens/s and cost count what this run paid for, not cache hits
        self.cost += completion.paid_usd
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            rate = self.tokens / max(now - self.started, 1e-9)
            self.context.log.info(
                f"drafts {self.done}/{self.total}, {rate:.0f} tokens/s, ${self.cost:.4f} so far, "
                f"{self.cache_hits} from cache, {self.failed} not generated"
            )
