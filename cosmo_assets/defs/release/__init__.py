"""The release side as assets, per language: real text, one asset per SQL model in dbt_like_sql/
(dependencies from its refs), the quota allocation between them, the export, and the review loop."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.partitions import language_partitions
from cosmo_assets.defs.release import dataset_export, quota_allocation, real_text, sql_models, template_reviews
from cosmo_assets.stages.balancing import check_materialisable, sql_project

__all__ = ["build_release_assets"]


def build_release_assets(config: CosmoConfig, upstream: Iterable[str]) -> list[dg.AssetsDefinition]:
    """`upstream`: keys of the assets that write the stage tables the SQL models read."""
    partitions = language_partitions(config)
    project = sql_project()
    check_materialisable(project)
    # A release reads every domain of its language (a Dagster beta: definitions.py silences its warning).
    every_domain = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="language")
    known = {*upstream, "real_text", "quota_allocation", *project.models}
    models = [sql_models.build(project.models[name], project, partitions, known, every_domain) for name in project.order]
    return [
        real_text.build(partitions),
        quota_allocation.build(partitions),
        *models,
        dataset_export.build(partitions),
        template_reviews.build(),
    ]
