"""The nightly schedule: one run per missing or stale domain x language partition."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.jobs import GENERATE_JOB
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.stage_graph import assess_now, partitions_in_flight, run_requests
from cosmo_assets.fingerprints import PER_DOMAIN_STAGES
from cosmo_assets.verdicts import refreshes


def build_nightly_schedule(config: CosmoConfig, resource: CosmoResource) -> dg.ScheduleDefinition:
    settings = config.project.schedule

    # build_schedule_from_partitioned_job refuses static x static partitions: one request per key instead.
    @dg.schedule(
        name="nightly_generate",
        job_name=GENERATE_JOB,
        cron_schedule=settings.nightly_cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Every night, one run per domain x language partition that is missing or stale, of exactly "
            "its missing or stale stages; partitions already up to date cost nothing. Releases follow by "
            "automation."
        ),
    )
    def nightly_generate(context: dg.ScheduleEvaluationContext):
        verdicts = assess_now(context, resource)
        if isinstance(verdicts, dg.SkipReason):
            return verdicts
        plans = refreshes(verdicts, PER_DOMAIN_STAGES)
        if not plans:
            return dg.SkipReason("every domain x language partition is up to date")
        tick = context.scheduled_execution_time.strftime("%Y-%m-%d")
        requests = run_requests(plans, partitions_in_flight(context.instance), lambda plan: f"{tick}:{plan.key}", "nightly")
        return requests or dg.SkipReason("every stale partition already has a run queued or in progress")

    return nightly_generate
