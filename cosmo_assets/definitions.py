"""The code location `dagster dev` loads (workspace.yaml): assets, checks, jobs, schedule, resources.

Built from configs/ at import, so partitions follow the configured domains and languages; a bad
config fails here, before anything runs. Heavy libraries (litellm, great_expectations, llama.cpp)
load only inside the steps that use them.
"""

from __future__ import annotations

import dagster as dg

from cosmo_assets.config import CosmoConfig, load_config
from cosmo_assets.defs.assets import build_assets
from cosmo_assets.defs.release import build_release_assets
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.schedules import build_jobs, build_nightly_schedule


def build_definitions(config: CosmoConfig | None = None, resource: CosmoResource | None = None) -> dg.Definitions:
    config = config or load_config()
    stages = build_assets(config)
    return dg.Definitions(
        assets=[*stages, *build_release_assets(config, upstream=[a.key.to_user_string() for a in stages])],
        jobs=build_jobs(),
        schedules=[build_nightly_schedule(config)],
        resources={"cosmo": resource or CosmoResource(config_dir=str(config.root))},
    )


defs = build_definitions()
