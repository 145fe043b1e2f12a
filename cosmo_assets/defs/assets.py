"""The five stages as software-defined assets. Each reads its inputs from DuckDB, calls a plain stage
function, replaces exactly its own partition, and checks what it just wrote."""


import time
import warnings

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.partitions import domain_language_partitions, partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.diversity import diversity_figures
from cosmo_assets.defs.metadata import stage_metadata
from cosmo_assets.defs.staleness import recorded
from cosmo_assets.fingerprints import code_version
from cosmo_assets.stages.drafts import continuation_requests, draft_requests, draft_rows, join_continuations
from cosmo_assets.stages import filtering
from cosmo_assets.stages.outlines import plan_outlines
from cosmo_assets.stages.review import excluded_templates
from cosmo_assets.stages.seeds import read_seeds

OWNERS = ["team:data-factory"]


def _check_result(name: str, outcome: contracts.CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata={**outcome.metadata, "failures": dg.MetadataValue.json(outcome.failures)},
    )


def _contract_result(name: str, table: str, frame: pl.DataFrame, cosmo: CosmoResource, **inputs) -> dg.AssetCheckResult:
    """Run `table`'s great-expectations suite (cosmo_assets/expectations.py) on the partition just written;
    `inputs` are the upstream frames (and quota targets) that `check_partition` takes. The check fails as
    ERROR (blocking what follows) if any ERROR expectation failed, as WARN if only WARN ones did."""
    from cosmo_assets.expectations import check_partition  # GX takes 5 s or more to import: only when a check runs

    outcome = check_partition(table, frame, cosmo.config, **inputs)
    meta = outcome.metadata()
    return dg.AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == "error" else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={**meta, "expectations": dg.MetadataValue.md(meta["expectations"]), "failed": dg.MetadataValue.json(meta["failed"])},
    )


def _preview(frame: pl.DataFrame, columns: list[str], rows: int = 5) -> dg.MetadataValue:
    if frame.height == 0:
        return dg.MetadataValue.md("_empty partition_")
    sample = frame.head(rows).select(columns).with_columns(
        pl.col(c).cast(pl.String).str.replace_all(r"\s+", " ").str.slice(0, 160).str.replace_all(r"\|", "/")
        for c in columns
    )
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in sample.iter_rows())
    return dg.MetadataValue.md(header + body)


def build_assets(config: CosmoConfig) -> list[dg.AssetsDefinition]:
    per_domain = domain_language_partitions(config)

    def spec(asset: str, name: str, description: str, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
        # Partitioned checks are a Dagster preview; they let the UI show each partition's own result.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description, partitions_def=partitions)

    @dg.asset(
        partitions_def=per_domain,
        group_name="generation",
        kinds={"duckdb", "polars"},
        owners=OWNERS,
        code_version=code_version("seeds"),
        metadata=stage_metadata("seeds"),
        check_specs=[spec("seeds", "seeds_contract", "GX suite (cosmo_assets/expectations.py): schema, unique ids, titles, known topic types; the quarantined share stays under seeds.yaml max_bad_share.", per_domain)],
    )
    @recorded("seeds")
    def seeds(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Entities to write about, one row each with its facts, read from the domain's sources; bad rows go to seed_quarantine."""
        part = partition_of(context)
        batch = read_seeds(cosmo.config, part["domain"], part["language"], cosmo.seed_limit())
        frame = batch.seeds
        cosmo.storage.replace_partition("seeds", frame, part)
        cosmo.storage.replace_partition("seed_quarantine", batch.quarantine, part)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "quarantined": batch.quarantine.height,
                "bad_share": round(batch.bad_share, 4),
                "sources": dg.MetadataValue.json({r.source: r.as_metadata() for r in batch.reports}),
                "topic_types": dg.MetadataValue.json(dict(frame.group_by("topic_type").len().iter_rows())),
                "preview": _preview(frame, ["title", "topic_type", "source", "description"]),
                "quarantine_preview": _preview(batch.quarantine, ["location", "reason", "detail"]),
            },
            check_results=[
                _contract_result("seeds_contract", "seeds", frame, cosmo, quarantine=batch.quarantine, read=batch.read)
            ],
        )

    @dg.asset(
        partitions_def=per_domain,
        deps=[seeds],
        group_name="generation",
        kinds={"duckdb", "jinja"},
        owners=OWNERS,
        code_version=code_version("outlines"),
        metadata=stage_metadata("outlines"),
        check_specs=[
            spec("outlines", "outlines_contract", "GX suite: schema, every seed has an outline with facts of its own seed, configured content types, audiences and styles.", per_domain),
            spec("outlines", "outlines_mix", "Content types, audiences and styles are within mix_tolerance_pp of the configured mix (a warning).", per_domain),
        ],
    )
    @recorded("outlines")
    def outlines(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Article plans: content type, audience, style, template, sections with the facts to use, and the rendered prompt."""
        part = partition_of(context)
        seed_rows = cosmo.storage.read_partition("seeds", part)
        excluded = excluded_templates(cosmo.config, cosmo.storage)  # templates reviewers rejected
        batch = plan_outlines(cosmo.config, seed_rows, excluded_templates=excluded)
        frame = batch.outlines
        cosmo.storage.replace_partition("outlines", frame, part)
        if batch.near_duplicate_prompts:
            context.log.warning(f"{len(batch.near_duplicate_prompts)} pairs of near-duplicate prompts; see the metadata")
        mix = contracts.check_outline_mix(batch.mix, frame.height, cosmo.config.outlines.mix_tolerance_pp)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "mix": dg.MetadataValue.json(batch.mix),
                "max_mix_deviation_pp": dg.MetadataValue.json({c: r["max_deviation_pp"] for c, r in batch.mix.items()}),
                "prompt_diversity": dg.MetadataValue.json(batch.prompt_diversity),
                "near_duplicate_prompts": dg.MetadataValue.json(batch.near_duplicate_prompts[:50]),
                "near_duplicate_prompt_pairs": len(batch.near_duplicate_prompts),
                "model_outlines": dg.MetadataValue.json(batch.proposals),
                "templates": dg.MetadataValue.json(dict(frame.select("template_id", "template_version").unique().sort("template_id").iter_rows())),
                "excluded_templates": dg.MetadataValue.json(sorted(excluded)),
                "preview": _preview(frame, ["title", "content_type", "audience", "style", "prompt"]),
            },
            check_results=[
                _contract_result("outlines_contract", "outlines", frame, cosmo, seeds=seed_rows),
                dg.AssetCheckResult(
                    check_name="outlines_mix",
                    passed=mix.passed,
                    severity=dg.AssetCheckSeverity.WARN,  # an uneven mix is worth seeing, not worth stopping drafts
                    description=mix.description,
                    metadata=mix.metadata,
                ),
            ],
        )

    @dg.asset(
        partitions_def=per_domain,
        deps=[outlines],
        group_name="generation",
        kinds={"duckdb", "litellm"},
        owners=OWNERS,
        code_version=code_version("drafts"),
        metadata=stage_metadata("drafts"),
        pool="llm",  # model requests in flight across runs: pool limit x model.max_in_flight
        check_specs=[spec("drafts", "drafts_contract", "GX suite: schema, one draft per outline, failed share under the limit, tokens and cost.", per_domain)],
    )
    @recorded("drafts")
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
            progress = _Progress(context, len(requests))
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
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "model": settings.model,
                "generated": report.count(STATUS_OK),
                "failed": report.count(STATUS_FAILED),
                "skipped_budget": skipped,
                "budget_stop": report.budget_stop or "none",
                "continued": len(continued),
                "cache_hits": report.cache_hits,
                "model_calls": report.model_calls + (more.model_calls if more else 0),
                "prompt_tokens": int(frame["prompt_tokens"].sum() or 0),
                "completion_tokens": tokens,
                "cost_usd": float(frame["cost_usd"].sum() or 0.0),
                "cost_usd_this_run": round(report.spent_usd + (more.spent_usd if more else 0.0), 6),
                "tokens_this_run": report.spent_tokens + (more.spent_tokens if more else 0),
                "wall_s": round(report.wall_s, 2),
                "tokens_per_s": round(report.spent_tokens / report.wall_s, 1) if report.wall_s else 0.0,
                "draft_diversity": dg.MetadataValue.json(diversity_figures(frame.filter(pl.col("status") == "ok")["text"].to_list())),
                "preview": _preview(frame, ["status", "completion_tokens", "text"]),
            },
            check_results=[_contract_result("drafts_contract", "drafts", frame, cosmo, outlines=outline_rows)],
        )

    @dg.asset(
        partitions_def=per_domain,
        deps=[drafts],
        group_name="generation",
        kinds={"duckdb", "polars"},
        owners=OWNERS,
        code_version=code_version("filtered_articles"),
        metadata=stage_metadata("filtered_articles"),
        check_specs=[spec("filtered_articles", "filter_contract", "GX suite: schema, scores and lengths within the filters, kept share; every draft kept or rejected.", per_domain)],
    )
    @recorded("filtered_articles")
    def filtered_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Drafts that pass quality, language, outline, fact, benchmark and duplicate filters; the rest go
        to rejected_drafts with every reason. Kept articles' MinHash band keys go to minhash_index."""
        part = partition_of(context)
        settings = cosmo.config.filters
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
                "preview": _preview(kept, ["word_count", "quality_score", "text"]),
            },
            check_results=[
                _contract_result("filter_contract", "filtered_articles", kept, cosmo, drafts=draft_frame, rejected=rejected)
            ],
        )

    # The release side (balanced dataset, export, review) is in defs/release.py.
    return [seeds, outlines, drafts, filtered_articles]


class _Progress:
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
