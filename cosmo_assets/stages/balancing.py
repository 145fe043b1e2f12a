"""Stage 5, balanced dataset: the SQL models in dbt_like_sql/ draw the release of one language."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from cosmo_assets.config import PROJECT_ROOT, BalanceSettings
from cosmo_assets.sql_runner import SqlProject
from cosmo_assets.storage import TABLES, frame_schema

SQL_DIR = PROJECT_ROOT / "dbt_like_sql"


def build_balanced_dataset(
    con: duckdb.DuckDBPyConnection, settings: BalanceSettings, language: str, sql_dir: Path = SQL_DIR
) -> pl.DataFrame:
    project = SqlProject(sql_dir, sources=TABLES)
    rows = project.run(
        con,
        "balanced_dataset",
        {
            "language": language,
            "min_quality_score": settings.min_quality_score,
            "max_per_seed": settings.max_per_seed,
            "max_per_language": settings.max_per_language,
        },
    )
    return rows.cast(frame_schema("balanced_dataset"))
