"""Jobs and the nightly schedule."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.partitions import domain_language_partitions
from cosmo_assets.defs.release import RELEASE_GROUP

GENERATE_JOB = "generate"
RELEASE_JOB = "release"
REVIEW_JOB = "review"


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    generate = dg.define_asset_job(
        GENERATE_JOB,
        selection=dg.AssetSelection.assets("seeds", "outlines", "drafts", "filtered_articles"),
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


def build_nightly_schedule(config: CosmoConfig) -> dg.ScheduleDefinition:
    partitions = domain_language_partitions(config)
    settings = config.project.schedule

    # build_schedule_from_partitioned_job refuses static x static partitions: one request per key instead.
    @dg.schedule(
        name="nightly_generate",
        job_name=GENERATE_JOB,
        cron_schedule=settings.nightly_cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every night, one run per domain x language partition; releases follow by automation.",
    )
    def nightly_generate(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for key in partitions.get_partition_keys():
            yield dg.RunRequest(run_key=f"{tick}:{key}", partition_key=key)

    return nightly_generate
