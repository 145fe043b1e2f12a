"""The export: Parquet shards, charts and a dataset card per language."""

import base64

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import RELEASE_GROUP, asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.release.model_hooks import allocation_shortfall
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, diversity_result
from cosmo_assets.diversity import grouped_figures
from cosmo_assets.llm.tokens import token_unit
from cosmo_assets.stages.balancing import generation_settings
from cosmo_assets.stages.card import CardContext
from cosmo_assets.stages.export import export_dataset, filter_summary, generation_costs
from cosmo_assets.stages.quota_report import configured_values, quota_report


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("dataset_export", partitions, kinds={"parquet"}, deps=["balanced_dataset", "balance_composition"],
           checks={"export_contract": "The Parquet shards hold exactly the balanced dataset's rows.",
                   "release_diversity": "WARN when the released articles' diversity figures (all, or a domain's) cross "
                                        "the floors of filters.yaml diversity."},
           group=RELEASE_GROUP, eager=True)
    def dataset_export(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Parquet shards, composition charts and a dataset card for one language, ready to load for training."""
        part = partition_of(context)
        config = cosmo.config
        frame = cosmo.storage.read_partition("balanced_dataset", part).sort("source", "domain", "id", descending=[True, False, False])
        composition = cosmo.storage.read_partition("balance_composition", part)
        variety = config.filters.diversity
        synthetic = frame.filter(pl.col("source") == "synthetic")
        figures = grouped_figures({d: synthetic.filter(pl.col("domain") == d)["text"].to_list() for d in synthetic["domain"].unique()},
                                  variety.phrases(part["language"]), variety.opening_words)
        card = _card_context(cosmo, part["language"], composition, allocation_shortfall(context.instance, part) > 0, figures)
        costs = card.costs
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
                "diversity": dg.MetadataValue.json(figures),
                "dataset_card": dg.MetadataValue.md((summary.directory / "README.md").read_text(encoding="utf-8")),
            },
            check_results=[check_result("export_contract", contracts.check_export(exported, frame)),
                           diversity_result("release_diversity", figures, variety)],
        )

    return dataset_export


def _card_context(cosmo: CosmoResource, language: str, composition: pl.DataFrame, no_exact_choice: bool,
                  diversity: dict) -> CardContext:
    """What the card says beyond the rows: quotas, filter summary, costs, settings, token unit, licence."""
    config = cosmo.config
    part = {"language": language}
    allocation = cosmo.storage.read_partition("quota_allocation", part)
    costs, released_cost = generation_costs(cosmo.storage, language)
    unit = token_unit(config.model.model)
    return CardContext(
        quota_report=quota_report(composition, config.balance.quotas, config.balance.real_text.share, configured_values(config),
                                  no_exact_choice),
        tolerance=config.balance.quotas.tolerance,
        decisions=dict(allocation.group_by("decision").len().sort("decision").iter_rows()) if allocation.height else {},
        filter_summary=filter_summary(cosmo.storage, language),
        costs=costs,
        released_cost_usd=released_cost,
        settings={
            "balance": config.balance.model_dump(exclude={"real_text": {"corpora"}}),
            "filters": config.filters.model_dump(),
        },
        generation=generation_settings(config),
        corpora=[{"name": c.name, "license": c.license} for c in config.balance.real_text.corpora if c.language == language],
        token_unit=unit.name,
        token_label=unit.label,
        license=config.balance.export.license,
        diversity=diversity,
    )


def _embedded_png(path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
