"""The five stages as software-defined assets. Each reads its inputs from DuckDB, calls a plain stage
function, replaces exactly its own partition, and checks what it just wrote."""


import time
import warnings

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.partitions import domain_language_partitions, language_partitions, partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.metadata import stage_metadata
from cosmo_assets.defs.staleness import recorded
from cosmo_assets.fingerprints import code_version
from cosmo_assets.stages.balancing import SQL_DIR, build_balanced_dataset
from cosmo_assets.stages.drafts import draft_requests, draft_rows
from cosmo_assets.stages.export import export_dataset
from cosmo_assets.stages.filtering import filter_drafts
from cosmo_assets.stages.outlines import build_outlines
from cosmo_assets.stages.seeds import build_seeds
from cosmo_assets.sql_runner import SqlProject
from cosmo_assets.storage import TABLES

OWNERS = ["team:data-factory"]


def _check_result(name: str, outcome: contracts.CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata={**outcome.metadata, "failures": dg.MetadataValue.json(outcome.failures)},
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
    per_language = language_partitions(config)

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
        check_specs=[spec("seeds", "seeds_contract", "Seeds exist, with unique ids, titles and known topic types.", per_domain)],
    )
    @recorded("seeds")
    def seeds(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Entities to write about, one row each with its facts, read from the domain's knowledge base."""
        part = partition_of(context)
        frame = build_seeds(cosmo.config, part["domain"], part["language"], cosmo.seed_limit())
        cosmo.storage.replace_partition("seeds", frame, part)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "knowledge_base": str(cosmo.config.knowledge_base_path(part["domain"])),
                "topic_types": dg.MetadataValue.json(dict(frame.group_by("topic_type").len().iter_rows())),
                "preview": _preview(frame, ["title", "topic_type", "description"]),
            },
            check_results=[_check_result("seeds_contract", contracts.check_seeds(frame))],
        )

    @dg.asset(
        partitions_def=per_domain,
        deps=[seeds],
        group_name="generation",
        kinds={"duckdb", "jinja"},
        owners=OWNERS,
        code_version=code_version("outlines"),
        metadata=stage_metadata("outlines"),
        check_specs=[spec("outlines", "outlines_contract", "Every seed has an outline with a prompt and configured mix values.", per_domain)],
    )
    @recorded("outlines")
    def outlines(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Article plans: content type, audience, style, template, sections and the rendered prompt."""
        part = partition_of(context)
        seed_rows = cosmo.storage.read_partition("seeds", part)
        frame = build_outlines(cosmo.config, seed_rows)
        cosmo.storage.replace_partition("outlines", frame, part)
        mix = {c: dict(frame.group_by(c).len().iter_rows()) for c in ("content_type", "audience", "style")}
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "mix": dg.MetadataValue.json(mix),
                "preview": _preview(frame, ["title", "content_type", "audience", "style", "prompt"]),
            },
            check_results=[
                _check_result("outlines_contract", contracts.check_outlines(frame, seed_rows, cosmo.config))
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
        check_specs=[spec("drafts", "drafts_contract", "One draft per outline; the failed share stays under the configured limit.", per_domain)],
    )
    @recorded("drafts")
    def drafts(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """One model completion per outline, with tokens, cost, latency and status."""
        from cosmo_assets.llm.client import LLMClient, open_endpoint  # litellm loads only where it is used

        part = partition_of(context)
        settings = cosmo.config.model
        outline_rows = cosmo.storage.read_partition("outlines", part)
        requests = draft_requests(outline_rows, settings)
        progress = _Progress(context, len(requests))
        started = time.perf_counter()
        with open_endpoint(settings) as endpoint:
            client = LLMClient(settings, endpoint)
            context.log.info(f"drafting {len(requests)} outlines on {settings.model}, {client.in_flight} in flight")
            completions = client.complete_all(requests, on_done=progress.update)
        wall = time.perf_counter() - started
        frame = draft_rows(outline_rows, completions, settings)
        cosmo.storage.replace_partition("drafts", frame, part)
        tokens = int(frame["completion_tokens"].sum() or 0)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "model": settings.model,
                "failed": frame.filter(pl.col("status") != "ok").height,
                "prompt_tokens": int(frame["prompt_tokens"].sum() or 0),
                "completion_tokens": tokens,
                "cost_usd": float(frame["cost_usd"].sum() or 0.0),
                "wall_s": round(wall, 2),
                "tokens_per_s": round(tokens / wall, 1) if wall else 0.0,
                "preview": _preview(frame, ["status", "completion_tokens", "text"]),
            },
            check_results=[
                _check_result("drafts_contract", contracts.check_drafts(frame, outline_rows, settings.max_failed_share))
            ],
        )

    @dg.asset(
        partitions_def=per_domain,
        deps=[drafts],
        group_name="generation",
        kinds={"duckdb", "polars"},
        owners=OWNERS,
        code_version=code_version("filtered_articles"),
        metadata=stage_metadata("filtered_articles"),
        check_specs=[spec("filtered_articles", "filter_contract", "Every draft is kept or rejected with reasons; enough are kept.", per_domain)],
    )
    @recorded("filtered_articles")
    def filtered_articles(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Drafts that pass length, repetition and language filters; the rest go to rejected_drafts with every reason."""
        part = partition_of(context)
        draft_frame = cosmo.storage.read_partition("drafts", part)
        kept, rejected = filter_drafts(draft_frame, cosmo.config.filters, part["language"])
        cosmo.storage.replace_partition("filtered_articles", kept, part)
        cosmo.storage.replace_partition("rejected_drafts", rejected, part)
        reasons = dict(rejected["reject_reasons"].explode(empty_as_null=False).value_counts().iter_rows()) if rejected.height else {}
        return dg.MaterializeResult(
            metadata={
                "kept": kept.height,
                "rejected": rejected.height,
                "kept_share": round(kept.height / draft_frame.height, 4) if draft_frame.height else 0.0,
                "reject_reasons": dg.MetadataValue.json(reasons),
                "mean_quality_score": round(float(kept["quality_score"].mean() or 0.0), 4),
                "preview": _preview(kept, ["word_count", "quality_score", "text"]),
            },
            check_results=[
                _check_result(
                    "filter_contract",
                    contracts.check_filtered(kept, rejected, draft_frame, cosmo.config.filters.min_kept_share),
                )
            ],
        )

    # balanced_dataset reads every domain of its language, from the tables its SQL models ref.
    upstream_stages = {"seeds": seeds, "outlines": outlines, "drafts": drafts, "filtered_articles": filtered_articles}
    sql_sources = SqlProject(SQL_DIR, sources=TABLES).sources_of("balanced_dataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        every_domain = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="language")

    @dg.asset(
        partitions_def=per_language,
        deps=[dg.AssetDep(upstream_stages[t], partition_mapping=every_domain) for t in sql_sources if t in upstream_stages],
        group_name="release",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        code_version=code_version("balanced_dataset"),
        metadata=stage_metadata("balanced_dataset"),
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[spec("balanced_dataset", "balanced_contract", "Unique ids, full metadata, per-seed caps respected.", per_language)],
    )
    @recorded("balanced_dataset")
    def balanced_dataset(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """The release of one language across every domain, drawn by the SQL models in dbt_like_sql/."""
        part = partition_of(context)
        with cosmo.storage.connect(read_only=True) as con:
            frame = build_balanced_dataset(con, cosmo.config.balance, part["language"])
        cosmo.storage.replace_partition("balanced_dataset", frame, part)
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "tokens": int(frame["token_count"].sum() or 0),
                "by_domain": dg.MetadataValue.json(dict(frame.group_by("domain").len().iter_rows())),
                "by_content_type": dg.MetadataValue.json(dict(frame.group_by("content_type").len().iter_rows())),
                "preview": _preview(frame, ["domain", "title", "content_type", "text"]),
            },
            check_results=[
                _check_result("balanced_contract", contracts.check_balanced(frame, cosmo.config.balance.max_per_seed))
            ],
        )

    @dg.asset(
        partitions_def=per_language,
        deps=[balanced_dataset],
        group_name="release",
        kinds={"parquet"},
        owners=OWNERS,
        code_version=code_version("dataset_export"),
        metadata=stage_metadata("dataset_export"),
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[spec("dataset_export", "export_contract", "The Parquet shards hold exactly the balanced dataset's rows.", per_language)],
    )
    @recorded("dataset_export")
    def dataset_export(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Parquet shards and a dataset card for one language, ready to load for training."""
        part = partition_of(context)
        frame = cosmo.storage.read_partition("balanced_dataset", part)
        summary = export_dataset(frame, cosmo.config.export_dir(), part["language"], cosmo.config.balance.shard_rows)
        exported = pl.read_parquet(summary.shards)
        context.log.info(f"exported {summary.rows} articles to {summary.directory}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(summary.directory)),
                "rows": summary.rows,
                "shards": len(summary.shards),
                "bytes": summary.bytes,
                "dataset_card": dg.MetadataValue.md((summary.directory / "README.md").read_text(encoding="utf-8")),
            },
            check_results=[_check_result("export_contract", contracts.check_export(exported, frame))],
        )

    return [seeds, outlines, drafts, filtered_articles, balanced_dataset, dataset_export]


class _Progress:
    """Logs done/total, tokens/s and cost at intervals while drafts arrive."""

    def __init__(self, context: dg.AssetExecutionContext, total: int, every_s: float = 10.0):
        self.context, self.total, self.every_s = context, total, every_s
        self.done = self.tokens = 0
        self.cost = 0.0
        self.started = self.last = time.perf_counter()

    def update(self, completion) -> None:
        self.done += 1
        self.tokens += completion.completion_tokens
        self.cost += completion.cost_usd
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            rate = self.tokens / max(now - self.started, 1e-9)
            self.context.log.info(f"drafts {self.done}/{self.total}, {rate:.0f} tokens/s, ${self.cost:.4f} so far")
