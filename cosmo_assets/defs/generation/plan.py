"""The generation_plan asset: the forecast of `python -m cosmo_assets plan` as metadata in the UI."""

import dagster as dg

from cosmo_assets.defs.resources import CosmoResource


@dg.asset(group_name="planning", kinds={"litellm"}, owners=["team:data-factory"])
def generation_plan(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
    """What drafting every configured partition will cost before the first token: outlines to draft, drafts
    already cached, prompt and completion tokens, USD, wall time and the budget that would stop it. Makes
    no model call; materialise it before a run (the run's drafts show forecast against actual)."""
    from cosmo_assets.stages.plan import plan_generation

    config = cosmo.config
    partitions = [(d, lang) for lang in config.enabled_languages for d in config.domain_names]
    forecast = plan_generation(config, partitions, cosmo.seed_limit())
    context.log.info("\n" + forecast.table())
    meta = forecast.metadata()
    return dg.MaterializeResult(metadata={
        **{k: v for k, v in meta.items() if k not in ("partitions", "basis")},
        "partitions": dg.MetadataValue.json(meta["partitions"]),
        "basis": dg.MetadataValue.json(meta["basis"]),
        "forecast": dg.MetadataValue.md("```\n" + forecast.table() + "\n```"),
    })
