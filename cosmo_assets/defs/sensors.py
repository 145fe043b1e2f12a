"""The input-change sensor: reacts to a changed config, seed file, template or stage code."""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

from cosmo_assets.defs.checks import check_evaluation
from cosmo_assets.defs.stage_graph import assess_now, partitions_in_flight, run_requests
from cosmo_assets.fingerprints import PER_DOMAIN_STAGES, PER_LANGUAGE_STAGES
from cosmo_assets.ids import content_hash
from cosmo_assets.verdicts import MISSING, STALE, Refresh, Verdict, refreshes

DESCRIPTION = (
    "Watches configs/, the seed files, templates and code. When a materialised partition goes stale, "
    "marks its inputs_current check and requests a run of exactly its stale stages."
)


def build_input_change_sensor(resource, generate_job, release_job, interval_s: int) -> dg.SensorDefinition:
    """The sensor that reacts to a changed config, seed file, template or stage code (see DESCRIPTION)."""

    @dg.sensor(name="input_changes", minimum_interval_seconds=interval_s, default_status=dg.DefaultSensorStatus.RUNNING,
               jobs=[generate_job, release_job], description=DESCRIPTION)
    def input_changes(context: dg.SensorEvaluationContext):
        return _evaluate(context, resource, generate_job.name, release_job.name)

    return input_changes


def _evaluate(context: dg.SensorEvaluationContext, resource, generate_job: str, release_job: str):
    """Check evaluations for verdicts that changed since the cursor, and runs for what went stale."""
    verdicts = assess_now(context, resource)
    if isinstance(verdicts, dg.SkipReason):
        return verdicts
    reported = json.loads(context.cursor) if context.cursor else {}
    events, now = [], {}
    for verdict in verdicts:
        if verdict.state == MISSING:
            continue
        now[verdict.target] = content_hash(verdict.state, verdict.reasons, verdict.made.order)
        if reported.get(verdict.target) != now[verdict.target]:
            events.append(check_evaluation(verdict))
    in_flight = partitions_in_flight(context.instance)

    def run_key(plan: Refresh) -> str:
        return f"inputs:{plan.key}:{_state_key(verdicts, plan)}"

    requests = run_requests(refreshes(verdicts, PER_DOMAIN_STAGES, include_missing=False), in_flight, run_key,
                            "input_changes", generate_job)
    requests += run_requests(_own_release_changes(verdicts), in_flight, run_key, "input_changes", release_job)
    return dg.SensorResult(run_requests=requests, asset_events=events, cursor=json.dumps(now, sort_keys=True))


def _state_key(verdicts: Sequence[Verdict], plan: Refresh) -> str:
    # Changes after each run of the partition, so a later change to the same state asks again;
    # stays the same while nothing is re-made, so one change asks once (Dagster drops repeated run keys).
    made = [(v.stage, v.reasons, v.made.order if v.made else None) for v in verdicts if v.key == plan.key and v.stage in plan.stages]
    return content_hash(made)


def _own_release_changes(verdicts: Sequence[Verdict]) -> list[Refresh]:
    """Releases whose own inputs changed (balance settings, SQL models, code) while no domain of their
    language is stale. Releases behind a re-made upstream partition are made by their eager
    automation condition, so they are not requested twice."""
    pending_languages = {v.partition["language"] for v in verdicts if v.stage in PER_DOMAIN_STAGES and v.state == STALE}
    return [
        plan for plan in refreshes(verdicts, PER_LANGUAGE_STAGES, include_missing=False)
        if plan.reasons and plan.partition["language"] not in pending_languages
    ]
