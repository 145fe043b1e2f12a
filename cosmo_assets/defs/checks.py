"""The `inputs_current` check on every stage: WARN when a partition is stale, naming what changed."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from cosmo_assets.defs.partitions import partition_dict
from cosmo_assets.defs.stage_graph import StageGraph, current_config
from cosmo_assets.display import clip
from cosmo_assets.verdicts import FRESH, Verdict, partition_key

INPUTS_CHECK = "inputs_current"


def _check_result(verdict: Verdict) -> dict:
    if verdict.state == FRESH:
        description = "made from the current configs, seed file, templates, code and upstream partitions"
    else:
        description = f"{verdict.state}: " + "; ".join(verdict.reasons)
    return dict(
        passed=verdict.state == FRESH,
        severity=dg.AssetCheckSeverity.WARN,
        description=clip(description, 1000),
        metadata={"state": verdict.state, "reasons": dg.MetadataValue.json(list(verdict.reasons))},
    )


def build_input_checks(assets: Sequence[dg.AssetsDefinition], resource) -> list[dg.AssetChecksDefinition]:
    """One `inputs_current` check per stage: WARN when a partition is stale, naming what changed.

    The input-change sensor re-evaluates it whenever a verdict changes; a run that materialises the
    asset evaluates it too, and it can be executed from the UI at any time."""
    return [_input_check(asset, resource) for asset in assets]


def _input_check(asset: dg.AssetsDefinition, resource) -> dg.AssetChecksDefinition:
    stage = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name=INPUTS_CHECK,
        partitions_def=asset.partitions_def,
        blocking=False,
        description="The partition was made from the current configs, seed file, templates, code and "
        "upstream partitions; WARN names what changed since.",
    )
    def inputs_current(context) -> dg.AssetCheckResult:  # no annotation: this module defers them
        config = current_config(resource.config_dir)
        graph = StageGraph(context.job_def.asset_layer.asset_graph)
        key = partition_key(partition_dict(context.partition_key))
        verdicts = graph.assess(context.instance, config, resource.seed_limit(config))
        return dg.AssetCheckResult(**_check_result(next(v for v in verdicts if v.stage == stage and v.key == key)))

    return inputs_current


def check_evaluation(verdict: Verdict) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(verdict.stage), check_name=INPUTS_CHECK, partition=verdict.key, **_check_result(verdict)
    )
