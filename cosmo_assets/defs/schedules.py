"""Jobs, the nightly schedule (only missing or stale partitions) and the input-change sensor."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.staleness import assess_now, partitions_in_flight, run_requests
from cosmo_assets.fingerprints import PER_DOMAIN_STAGES
from cosmo_assets.staleness import refreshes
from cosmo_assets.defs.release import RELEASE_GROUP

GENERATE_JOB = "generate"
RELEASE_JOB = "release"
REVIEW_JOB = "review"


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    generate = dg.define_asset_job(
        GENERATE_JOB,
        selection=dg.AssetSelection.assets(*PER_DOMAIN_STAGES),
        description="Seeds to filtered articles for one domain x language partition.",
    )
    release = dg.define_asset_job(
        RELEASE_JOB,
        selection=dg.AssetSelection.groups(RELEASE_GROUP) | dg.AssetSelection.assets("review_sample"),
        description="Balanced dataset (SQL models and quotas), real-text mix, export and review sample for one "
        "language, across every domain.",
    )
    review = dg.define_asset_job(
        REVIEW_JOB,
        selection=dg.AssetSelection.assets("template_reviews"),
        description="Read reviewers' verdict files: accept rates per template, and the templates left out of the next run.",
    )
    return [generate, release, review]


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
