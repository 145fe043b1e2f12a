"""The `inputs_current` check on every stage: WARN when a partition is stale, naming what changed."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from cosmo_assets.contracts import Outcome, expect
from cosmo_assets.defs.partitions import partition_dict
from cosmo_assets.defs.shared import check_fields, check_result
from cosmo_assets.defs.stage_graph import StageGraph, current_config
from cosmo_assets.display import clip
from cosmo_assets.verdicts import FRESH, Verdict, partition_key

INPUTS_CHECK = "inputs_current"


def verdict_outcome(verdict: Verdict) -> Outcome:
    """A partition's staleness verdict as a check's outcome: one expectation, a warning."""
    current = expect("made from the current inputs", verdict.state == FRESH,
                     clip(f"{verdict.state}: " + "; ".join(verdict.reasons), 1000), verdict.state, severity="warn")
    return Outcome([current], {"state": verdict.state, "reasons": list(verdict.reasons)},
                   passed_description="made from the current configs, seed file, templates, code and upstream partitions")


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
        verdicts = graph.assess(context.instance, config, resource.judged_size())
        return check_result(INPUTS_CHECK, verdict_outcome(next(v for v in verdicts if v.stage == stage and v.key == key)))

    return inputs_current


def check_evaluation(verdict: Verdict) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(verdict.stage), check_name=INPUTS_CHECK, partition=verdict.key, **check_fields(verdict_outcome(verdict))
    )


def report_checks(instance: dg.DagsterInstance, evaluations: Sequence[dg.AssetCheckEvaluation], report_id: str) -> None:
    """Store check results a sensor tick found, under `report_id` (one per tick).

    Not as Dagster's runless events: those are stored with an empty run id, and the instance's unique
    index on (asset, check, run id, partition) refuses the second one for a partition (SQLite and
    Postgres alike), which failed every tick after the first report. A run id of its own per report
    keeps every report, and the latest one is what the UI shows."""
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.instance.utils import RUNLESS_JOB_NAME

    for evaluation in evaluations:
        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
            event_specific_data=evaluation,
            job_name=RUNLESS_JOB_NAME,
        )
        instance.report_dagster_event(event, run_id=report_id)
