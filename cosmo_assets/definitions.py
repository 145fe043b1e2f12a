"""The code location `dagster dev` loads (workspace.yaml): assets, checks, jobs, schedule, sensor, resources.

Built from configs/ at import, so partitions follow the configured domains and languages; a bad
config fails here, before anything runs. Heavy libraries (litellm, great_expectations, llama.cpp)
load only inside the steps that use them.
"""

from __future__ import annotations

import warnings

import dagster as dg
from dagster_duckdb import DuckDBResource

from cosmo_assets.config import CosmoConfig, load_config
from cosmo_assets.defs.automation import build_release_automation
from cosmo_assets.defs.checks import build_input_checks
from cosmo_assets.defs.generation import build_generation_assets
from cosmo_assets.defs.generation.plan import generation_plan
from cosmo_assets.defs.generation.wikidata_extract import build_knowledge_base_assets
from cosmo_assets.defs.jobs import build_jobs
from cosmo_assets.defs.release import build_release_assets
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.schedules import build_nightly_schedule
from cosmo_assets.defs.sensors import build_input_change_sensor
from cosmo_assets.defs.team import build_lake_maintenance, executor
from cosmo_assets.fingerprints import STAGES


def build_definitions(config: CosmoConfig | None = None, resource: CosmoResource | None = None) -> dg.Definitions:
    config = config or load_config()
    # Partitioned asset checks (a preview) and the release's multi-to-single partition mapping (a beta) are
    # used on purpose: they let the UI show each partition's own check and a release read every domain.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _definitions(config, resource)


def _definitions(config: CosmoConfig, resource: CosmoResource | None) -> dg.Definitions:
    database = DuckDBResource(database=str(config.duckdb_path()))
    resource = resource or CosmoResource(config_dir=str(config.root), duckdb=database)
    stages = build_generation_assets(config)
    assets = [
        *build_knowledge_base_assets(config),
        *stages,
        *build_release_assets(config, upstream=[a.key.to_user_string() for a in stages]),
        generation_plan,
    ]
    generate, release, review = build_jobs()
    maintenance_jobs, maintenance_schedules = build_lake_maintenance(config)
    return dg.Definitions(
        assets=assets,
        asset_checks=build_input_checks([a for a in assets if a.key.to_user_string() in STAGES], resource),
        jobs=[generate, release, review, *maintenance_jobs],
        schedules=[build_nightly_schedule(config, resource), *maintenance_schedules],
        sensors=[
            build_input_change_sensor(resource, generate, release, config.project.schedule.input_check_interval_s),
            build_release_automation(config.project.schedule.input_check_interval_s),
        ],
        resources={"cosmo": resource, "duckdb": resource.duckdb or database},
        # One process per run, not per step: a partition's stages run one after another anyway, and on a
        # small machine starting a process per step costs more than the step. Partitions run in
        # parallel as separate runs (dagster_home/dagster.yaml: up to 4 at once). In team mode
        # (COSMO_EXECUTOR=celery, docs/deploy.md) each step goes to a Celery worker on any machine.
        executor=executor(),
    )


defs = build_definitions()
