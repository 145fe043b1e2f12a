"""configs/project.yaml: where data goes, how big a run is, when the schedule runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cosmo_assets.config.base import StrictModel


class StorageSettings(StrictModel):
    # duckdb: one file, one machine (the default). ducklake: a lake many workers write at once (team
    # mode, docs/deploy.md). COSMO_STORAGE_BACKEND, COSMO_DUCKLAKE_CATALOG and COSMO_DUCKLAKE_DATA_PATH override.
    backend: Literal["duckdb", "ducklake"] = "duckdb"
    duckdb_path: str = "data/cosmo.duckdb"
    export_dir: str = "data/exports"
    ducklake_catalog: str | None = Field(
        default=None, description="DuckLake catalog, e.g. 'postgres:dbname=cosmo host=db.internal user=cosmo' (password in $PGPASSWORD)."
    )
    ducklake_data_path: str = Field(default="data/lake", description="Where the lake's Parquet files go: a folder every worker mounts, or s3://...")
    keep_snapshots_days: int = Field(default=7, ge=1, description="Lake snapshots older than this are expired by the weekly maintenance.")
    maintenance_cron: str = "0 4 * * 0"  # weekly: expire old lake snapshots, delete files no snapshot reads

    @model_validator(mode="after")
    def _lake_has_catalog(self) -> StorageSettings:
        if self.backend == "ducklake" and not self.ducklake_catalog:
            raise ValueError("backend ducklake needs ducklake_catalog (or $COSMO_DUCKLAKE_CATALOG), e.g. 'postgres:dbname=cosmo host=db'")
        return self


class RunSettings(StrictModel):
    seeds_per_partition: int | None = Field(
        default=6, ge=1, description="Seeds drawn per domain x language partition; null means every seed."
    )
    random_seed: int = 20261125


class ScheduleSettings(StrictModel):
    nightly_cron: str = "0 2 * * *"
    timezone: str = "UTC"
    input_check_interval_s: int = Field(
        default=60, ge=5, description="How often the input_changes and release automation sensors look for changes."
    )

    @field_validator("nightly_cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("expected a 5-field cron expression such as '0 2 * * *'")
        return v


class ProjectSettings(StrictModel):
    storage: StorageSettings = StorageSettings()
    run: RunSettings = RunSettings()
    schedule: ScheduleSettings = ScheduleSettings()
