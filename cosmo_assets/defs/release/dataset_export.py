"""The export: Parquet shards, charts and a dataset card per language."""

import base64

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import RELEASE_GROUP, asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result
from cosmo_assets.stages import quotas
from cosmo_assets.stages.export import CardContext, export_dataset, generation_costs


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("dataset_export", partitions, kinds={"parquet"}, deps=["balanced_dataset", "balance_composition"],
           checks={"export_contract": "The Parquet shards hold exactly the balanced dataset's rows."},
           group=RELEASE_GROUP, eager=True)
    def dataset_export(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Parquet shards, composition charts and a dataset card for one language, ready to load for training."""
        part = partition_of(context)
        config = cosmo.config
        frame = cosmo.storage.read_partition("balanced_dataset", part).sort("source", "domain", "id", descending=[True, False, False])
        composition = cosmo.storage.read_partition("balance_composition", part)
        report = quotas.quota_report(composition, config.balance.quotas, config.balance.real_text.share)
        costs, released_cost = generation_costs(cosmo.storage, part["language"])
        card = CardContext(
            quota_report=report,
            costs=costs,
            released_cost_usd=released_cost,
            settings={
                "balance": config.balance.model_dump(exclude={"real_text": {"corpora"}}),
                "filters": config.filters.model_dump(),
                "generation": {"model": config.model.model, **config.model.generation_params()},
            },
            corpora=[{"name": c.name, "license": c.license} for c in config.balance.real_text.corpora
                     if c.language == part["language"]],
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
            check_results=[check_result("export_contract", contracts.check_export(exported, frame))],
        )

    return dataset_export


def _embedded_png(path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
