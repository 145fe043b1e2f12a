"""The jobs: generate (one domain x language partition), release (one language), review."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.defs.declare import RELEASE_GROUP
from cosmo_assets.fingerprints import PER_DOMAIN_STAGES

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
