"""Jobs and the nightly schedule."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.partitions import domain_language_partitions

GENERATE_JOB = "generate"
RELEASE_JOB = "release"


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    generate = dg.define_asset_job(
        GENERATE_JOB,
        selection=dg.AssetSelection.assets("seeds", "outlines", "drafts", "filtered_articles"),
        description="Seeds to filtered articles for one domain x language partition.",
    )
    release = dg.define_asset_job(
        RELEASE_JOB,
        selection=dg.AssetSelection.assets("balanced_dataset", "dataset_export"),
        description="Balanced dataset and export for one language, across every domain.",
    )
    return [generate, release]


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
