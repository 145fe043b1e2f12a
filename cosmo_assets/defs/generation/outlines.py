"""Outlines: an article plan per seed, with its rendered prompt."""

import dagster as dg

from cosmo_assets import contracts
from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, contract_result, preview
from cosmo_assets.stages.outlines import plan_outlines
from cosmo_assets.stages.review import excluded_templates


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("outlines", partitions,
           kinds={"duckdb", "jinja"},
           checks={"outlines_contract": "GX suite: schema, every seed has an outline with facts of its own seed, configured content types, audiences and styles.", "outlines_mix": "Content types, audiences and styles are within mix_tolerance_pp of the configured mix (a warning)."},
           deps=["seeds"])
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
                "preview": preview(frame, ["title", "content_type", "audience", "style", "prompt"]),
            },
            check_results=[
                contract_result("outlines_contract", "outlines", frame, cosmo, seeds=seed_rows),
                check_result("outlines_mix", mix),
            ],
        )

    return outlines
