"""The release side as assets, per language: real text, one asset per SQL model in dbt_like_sql/
(dependencies from its refs), the quota allocation between them, the export, and the review loop."""

import base64
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.assets import OWNERS, _check_result, _contract_result, _preview
from cosmo_assets.defs.partitions import language_partitions, partition_of
from cosmo_assets.defs.metadata import stage_metadata
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.staleness import recorded
from cosmo_assets.llm.tokens import token_unit
from cosmo_assets.fingerprints import PER_LANGUAGE_STAGES, code_version
from cosmo_assets.sql_runner import SqlModel
from cosmo_assets.stages import filtering, quotas, review
from cosmo_assets.stages.balancing import check_materialisable, generation_settings, run_model, sql_project
from cosmo_assets.stages.card import CardContext
from cosmo_assets.stages.export import export_dataset, filter_summary, generation_costs
from cosmo_assets.stages.quota_report import configured_values, quota_report, report_markdown
from cosmo_assets.stages.real_text import load_real_text
from cosmo_assets.storage import PARTITION_COLUMNS

RELEASE_GROUP = "release"
REVIEW_GROUP = "review"
# A table's rows come from the asset of the same name, except these.
TABLE_WRITERS = {"rejected_drafts": "filtered_articles"}

# A hook returns the asset's metadata and its check: a polars CheckOutcome, or a GX contract's result.
Hook = Callable[
    [dg.AssetExecutionContext, CosmoResource, pl.DataFrame, dict[str, str]],
    tuple[dict, contracts.CheckOutcome | dg.AssetCheckResult],
]


@dataclass(frozen=True)
class _ModelAsset:
    """What a model's asset adds to the rows it writes: its check, and metadata for the UI."""

    check: str
    check_description: str
    after: Hook
    group: str = RELEASE_GROUP
    before: Callable[[CosmoResource, dict[str, str]], dict] | None = None  # runs before the model's SQL
    transform: Callable[[CosmoResource, pl.DataFrame], pl.DataFrame] | None = None  # the rows, before they are stored


def _counts(frame: pl.DataFrame, column: str) -> dg.MetadataValue:
    return dg.MetadataValue.json(dict(frame.group_by(column).len().sort(column).iter_rows()) if frame.height else {})


def _before_candidates(cosmo, part):
    # Near duplicates across domains, checked against the persisted MinHash index; the SQL leaves them out.
    drops = filtering.release_duplicates(cosmo.storage, cosmo.config.filters, part["language"])
    cosmo.storage.replace_partition("near_duplicate_drops", drops, part)
    return {"near_duplicates_dropped": drops.height}


def _in_token_unit(cosmo, frame):
    # One unit for every row of a release (llm/tokens.py): the configured model's tokenizer or the word estimate.
    unit = token_unit(cosmo.config.model.model)
    return frame.with_columns(token_count=pl.Series(unit.count_all(frame["text"].to_list()), dtype=pl.Int32))


def _after_candidates(context, cosmo, frame, part):
    return {"by_domain": _counts(frame, "domain")}, contracts.check_candidates(frame)


def _after_balanced(context, cosmo, frame, part):
    metadata = {
        "tokens": int(frame["token_count"].sum() or 0),
        "real": frame.filter(pl.col("source") == "real").height,
        "by_domain": _counts(frame, "domain"),
        "by_content_type": _counts(frame, "content_type"),
        "preview": _preview(frame, ["source", "domain", "title", "content_type", "text"]),
    }
    # The great-expectations suite of the table (cosmo_assets/expectations.py), caps per seed and template included.
    return metadata, _contract_result("balanced_contract", "balanced_dataset", frame, cosmo)


def _after_composition(context, cosmo, frame, part):
    balance = cosmo.config.balance
    report = quota_report(frame, balance.quotas, balance.real_text.share, configured_values(cosmo.config))
    metadata = {
        "achieved_vs_target": dg.MetadataValue.md(report_markdown(report)),
        "quotas": dg.MetadataValue.json(report.to_dicts()),
        "tolerance": balance.quotas.tolerance,
    }
    return metadata, contracts.check_quotas(report)


def _after_review_sample(context, cosmo, frame, part):
    path = review.write_review_sample(frame, cosmo.config.review_sample_path(part["language"]))
    added = cosmo.storage.insert_missing("review_sample_history", frame.select(review.HISTORY_COLUMNS), key="id")
    released = cosmo.storage.read_partition("balanced_dataset", part)
    settings = cosmo.config.balance.review
    metadata = {
        "csv": dg.MetadataValue.path(str(path)),
        "newly_sampled": added,
        "by_kind": _counts(frame, "kind"),
        "verdict_files": settings.verdict_files,
        "by_template": _counts(frame, "template_id"),
    }
    outcome = contracts.check_review_sample(frame, released, settings.per_stratum, settings.rejected_per_stratum)
    return metadata, outcome


def _after_any(context, cosmo, frame, part):
    ids = frame["id"].is_duplicated().sum() if "id" in frame.columns else 0
    outcome = contracts.CheckOutcome(ids == 0, [f"{ids} rows share an id"] if ids else [], {"rows": frame.height})
    return {}, outcome


MODEL_ASSETS = {
    "release_candidates": _ModelAsset(
        "candidates_contract", "Unique ids; exact and near duplicates across domains removed.", _after_candidates,
        before=_before_candidates, transform=_in_token_unit),
    "balanced_dataset": _ModelAsset(
        "balanced_contract",
        "GX suite (cosmo_assets/expectations.py): schema, unique ids and texts, known mix values, full metadata on "
        "synthetic articles (real text has no seed, template or model), caps per seed and per template.",
        _after_balanced),
    "balance_composition": _ModelAsset(
        "quota_targets",
        "Every target share met within tolerance, unless the supply could not meet it (then reported).",
        _after_composition),
    "review_sample": _ModelAsset(
        "review_sample_contract",
        "Every domain x content type x template stratum sampled as configured: released articles from the release, "
        "rejected drafts at most review.rejected_per_stratum.",
        _after_review_sample, REVIEW_GROUP),
}


def _staleness_args(stage: str) -> dict:
    """Stages whose freshness is judged (fingerprints.PER_LANGUAGE_STAGES) carry a code version and
    record their inputs; the other release models are rebuilt with them by the release job."""
    if stage not in PER_LANGUAGE_STAGES:
        return {}
    return {"code_version": code_version(stage), "metadata": stage_metadata(stage)}


def _recorded_if_tracked(stage: str):
    return recorded(stage) if stage in PER_LANGUAGE_STAGES else (lambda fn: fn)


def _embedded_png(path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


def build_release_assets(config: CosmoConfig, upstream: Iterable[str]) -> list[dg.AssetsDefinition]:
    """`upstream`: keys of the assets that write the stage tables the SQL models read."""
    per_language = language_partitions(config)
    project = sql_project()
    check_materialisable(project)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        every_domain = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="language")

    def spec(asset: str, name: str, description: str, partitioned: bool = True) -> dg.AssetCheckSpec:
        # Partitioned checks are a Dagster preview; they let the UI show each partition's own result.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description,
                                     partitions_def=per_language if partitioned else None)

    @dg.asset(
        partitions_def=per_language,
        group_name=RELEASE_GROUP,
        kinds={"duckdb", "polars"},
        owners=OWNERS,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[spec("real_text", "real_text_contract", "Unique ids, no empty texts.")],
    )
    def real_text(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Human-written text from the corpora in balance.yaml, mixed into the release as source = 'real'."""
        part = partition_of(context)
        frame = load_real_text(cosmo.config, part["language"])
        cosmo.storage.replace_partition("real_text", frame, part)
        corpora = [c for c in cosmo.config.balance.real_text.corpora if c.language == part["language"]]
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "share": cosmo.config.balance.real_text.share,
                "corpora": dg.MetadataValue.json({c.name: str(cosmo.config.real_text_path(c)) for c in corpora}),
                "by_domain": _counts(frame, "domain"),
            },
            check_results=[_check_result("real_text_contract", contracts.check_real_text(frame))],
        )

    @dg.asset(
        partitions_def=per_language,
        deps=["release_candidates"],
        group_name=RELEASE_GROUP,
        kinds={"duckdb", "python"},
        owners=OWNERS,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[spec("quota_allocation", "allocation_contract", "Every candidate decided once; the planned size selected.")],
    )
    def quota_allocation(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Which candidates the release takes so its shares meet the quotas in balance.yaml, and why the others are out."""
        part = partition_of(context)
        candidates = cosmo.storage.read_partition("release_candidates", part)
        allocation, plan = quotas.allocate(candidates, cosmo.config.balance)
        cosmo.storage.replace_partition("quota_allocation", allocation.with_columns(language=pl.lit(part["language"])), part)
        context.log.info(f"releasing {plan.size} of {plan.candidates} candidates, {plan.left_out} left out "
                         f"({plan.decisions}): {plan.size_reason}")
        return dg.MaterializeResult(
            metadata={
                "candidates": plan.candidates,
                "capacity": plan.capacity,
                "min_size": plan.min_size,
                "size": plan.size,
                "size_reason": plan.size_reason,
                "left_out": plan.left_out,
                "relaxed": dg.MetadataValue.json(plan.relaxed),
                "shortfall": plan.shortfall,
                "decisions": dg.MetadataValue.json(plan.decisions),
                "targets": dg.MetadataValue.json(plan.targets),
                "supply": dg.MetadataValue.json(plan.supply),
            },
            check_results=[_check_result("allocation_contract", contracts.check_allocation(allocation, candidates, plan.size))],
        )

    known = {*upstream, "real_text", "quota_allocation", *project.models}

    def deps_of(model: SqlModel) -> list[dg.AssetDep]:
        deps = {ref: dg.AssetDep(ref) for ref in model.refs}
        for table in model.sources:
            writer = TABLE_WRITERS.get(table, table)
            if writer in known and writer not in deps:
                mapping = every_domain if PARTITION_COLUMNS.get(table) == ("domain", "language") else None
                deps[writer] = dg.AssetDep(writer, partition_mapping=mapping)
        return list(deps.values())

    def model_asset(model: SqlModel) -> dg.AssetsDefinition:
        extra = MODEL_ASSETS.get(model.name) or _ModelAsset(f"{model.name}_contract", "Unique ids.", _after_any)

        @dg.asset(
            name=model.name,
            description=model.description or f"The SQL model {model.path.name}.",
            partitions_def=per_language,
            deps=deps_of(model),
            group_name=extra.group,
            kinds={"duckdb", "sql"},
            owners=OWNERS,
            automation_condition=dg.AutomationCondition.eager(),
            check_specs=[spec(model.name, extra.check, extra.check_description)],
            **_staleness_args(model.name),
        )
        @_recorded_if_tracked(model.name)
        def _model(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
            part = partition_of(context)
            prepared = extra.before(cosmo, part) if extra.before else {}
            frame = run_model(cosmo.storage, cosmo.config, model.name, part["language"], project)
            if extra.transform:
                frame = extra.transform(cosmo, frame)
            cosmo.storage.replace_partition(model.name, frame, part)
            metadata, outcome = extra.after(context, cosmo, frame, part)
            return dg.MaterializeResult(
                metadata={"rows": frame.height, "sql": dg.MetadataValue.path(str(model.path)), **prepared, **metadata},
                check_results=[outcome if isinstance(outcome, dg.AssetCheckResult) else _check_result(extra.check, outcome)],
            )

        return _model

    @dg.asset(
        partitions_def=per_language,
        deps=["balanced_dataset", "balance_composition"],
        group_name=RELEASE_GROUP,
        kinds={"parquet"},
        owners=OWNERS,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[spec("dataset_export", "export_contract", "The Parquet shards hold exactly the balanced dataset's rows.")],
        **_staleness_args("dataset_export"),
    )
    @_recorded_if_tracked("dataset_export")
    def dataset_export(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Parquet shards, composition charts and a dataset card for one language, ready to load for training."""
        part = partition_of(context)
        config = cosmo.config
        frame = cosmo.storage.read_partition("balanced_dataset", part).sort("source", "domain", "id", descending=[True, False, False])
        composition = cosmo.storage.read_partition("balance_composition", part)
        report = quota_report(composition, config.balance.quotas, config.balance.real_text.share, configured_values(config))
        costs, released_cost = generation_costs(cosmo.storage, part["language"])
        allocation = cosmo.storage.read_partition("quota_allocation", part)
        unit = token_unit(config.model.model)
        card = CardContext(
            quota_report=report,
            tolerance=config.balance.quotas.tolerance,
            decisions=dict(allocation.group_by("decision").len().sort("decision").iter_rows()) if allocation.height else {},
            filter_summary=filter_summary(cosmo.storage, part["language"]),
            costs=costs,
            released_cost_usd=released_cost,
            settings={
                "balance": config.balance.model_dump(exclude={"real_text": {"corpora"}}),
                "filters": config.filters.model_dump(),
            },
            generation=generation_settings(config),
            corpora=[{"name": c.name, "license": c.license} for c in config.balance.real_text.corpora
                     if c.language == part["language"]],
            token_unit=unit.name,
            token_label=unit.label,
            license=config.balance.export.license,
        )
        summary = export_dataset(frame, config.export_dir(), part["language"], config.balance.export, card)
        exported = pl.read_parquet(summary.shards)
        context.log.info(f"exported {summary.rows} articles to {summary.directory}")
        charts = {f"chart_{p.stem}": dg.MetadataValue.path(str(p)) for p in summary.charts}
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(summary.directory)),
                "rows": summary.rows,
                "shards": len(summary.shards),
                "jsonl_shards": len(summary.jsonl),
                "bytes": summary.bytes,
                "cost_usd": float(costs["cost_usd"].sum()) if costs.height else 0.0,
                "composition": dg.MetadataValue.md("\n\n".join(_embedded_png(p) for p in summary.charts) or "_no charts_"),
                **charts,
                "dataset_card": dg.MetadataValue.md((summary.directory / "README.md").read_text(encoding="utf-8")),
            },
            check_results=[_check_result("export_contract", contracts.check_export(exported, frame))],
        )

    @dg.asset(
        deps=["review_sample"],
        group_name=REVIEW_GROUP,
        kinds={"duckdb", "csv"},
        owners=OWNERS,
        check_specs=[spec("template_reviews", "template_accept_rates",
                          "Warns when a template falls under the accept rate and is left out of the next run.", False)],
    )
    def template_reviews(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Reviewers' verdicts (balance.yaml review.verdict_files) read in; accept rate per template version;
        the templates under review.min_accept_rate, which the outlines stage leaves out from the next run."""
        reviews = review.review_templates(cosmo.config, cosmo.storage)
        cosmo.storage.replace_partition("review_verdicts", reviews.verdicts, {})
        cosmo.storage.replace_partition("template_reviews", reviews.templates, {})
        cosmo.storage.replace_partition("reject_reason_reviews", reviews.reasons, {})
        excluded = reviews.templates.filter(pl.col("excluded"))
        stale = {t: list(p) for t, p in excluded.select("template_id", "fed_partitions").iter_rows()}
        failures = [f"{t} accepted {r:.0%} of {n} (minimum {cosmo.config.balance.review.min_accept_rate:.0%}): "
                    f"left out of the next run; stale partitions {stale[t]}"
                    for t, r, n in excluded.select("template_id", "accept_rate", "reviewed").iter_rows()]
        return dg.MaterializeResult(
            metadata={
                "verdict_files": dg.MetadataValue.json([str(p) for p in cosmo.config.verdict_files()]),
                "verdicts": reviews.verdicts.height,
                "accept_rates": _preview(
                    reviews.templates.with_columns(pl.col("fed_partitions").list.join(", ")),
                    list(reviews.templates.columns), rows=50,
                ),
                "excluded_templates": dg.MetadataValue.json(sorted(stale)),
                "stale_partitions": dg.MetadataValue.json(stale),
                # rejected drafts reviewers accepted, per reject reason: a reason that rejects good drafts shows here
                "false_rejections": _preview(reviews.reasons, list(reviews.reasons.columns), rows=50),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="template_accept_rates",
                    passed=not failures,
                    severity=dg.AssetCheckSeverity.WARN,
                    description="; ".join(failures) or "every reviewed template is above the accept rate",
                    metadata={"excluded_templates": dg.MetadataValue.json(sorted(stale))},
                )
            ],
        )

    models = [model_asset(project.models[name]) for name in project.order]
    return [real_text, quota_allocation, *models, dataset_export, template_reviews]
