"""Stage 5, balanced dataset: the SQL models in dbt_like_sql/ draw each language's release.

Each model is materialised on its own (one Dagster asset per model): its refs to other models read
their materialised tables, filtered to the language, so a model sees exactly what its upstream
assets wrote. The quota allocation between candidates and release is Python (stages/quotas.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_assets.config import CosmoConfig
from cosmo_assets.config.base import SQL_DIR
from cosmo_assets.sql_runner import SqlModelError, SqlProject
from cosmo_assets.storage import PARTITION_COLUMNS, TABLES, Storage, frame_schema


def sql_project(sql_dir: Path = SQL_DIR) -> SqlProject:
    return SqlProject(sql_dir, sources=TABLES)


def check_materialisable(project: SqlProject) -> None:
    """Every model is materialised in a table of its own name, partitioned by language."""
    for model in project.models.values():
        if PARTITION_COLUMNS.get(model.name) != ("language",):
            raise SqlModelError(
                f"{model.path}:1: model {model.name!r} needs a table of the same name in storage.TABLES, "
                "with PARTITION_COLUMNS ('language',), to be materialised"
            )


def model_variables(config: CosmoConfig, language: str) -> dict[str, Any]:
    """Every value a model may ask for with {{ var('...') }}; each model is given only those it uses."""
    balance = config.balance
    return {
        "language": language,
        "min_quality_score": balance.min_quality_score,
        "max_per_seed": balance.max_per_seed,
        "real_share": balance.real_text.share,
        "rephrased_share": balance.rephrased.share,
        "mix_salt": str(config.project.run.random_seed),
        "review_per_stratum": balance.review.per_stratum,
        "review_salt": str(config.project.run.random_seed),
        "review_rejected_per_stratum": balance.review.rejected_per_stratum,
        "generation_settings": json.dumps(generation_settings(config), sort_keys=True),
    }


def generation_settings(config: CosmoConfig) -> dict[str, Any]:
    """The settings the drafts were made with (part of every draft id, so a change re-makes them)."""
    return {"model": config.model.model, **config.model.generation_params()}


def run_model(
    storage: Storage, config: CosmoConfig, name: str, language: str, project: SqlProject | None = None
) -> pl.DataFrame:
    """The rows of model `name` for one language, reading the models it refs from their tables."""
    project = project or sql_project()
    check_materialisable(project)
    needed = {t for m in project.upstream(name) for t in (*project.models[m].sources, m)}
    with storage.connect() as con:  # a fresh file has no tables yet: reading them must still work
        storage.prepare(con, *sorted(needed))
    stored = {m: f'SELECT * FROM "{m}" WHERE language = $language' for m in project.models}
    with storage.connect(read_only=True) as con:
        rows = project.run(con, name, model_variables(config, language), stored=stored)
    schema = frame_schema(name)
    return rows.cast({c: t for c, t in schema.items() if c in rows.columns})
