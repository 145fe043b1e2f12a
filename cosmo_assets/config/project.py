"""configs/project.yaml: where data goes, how big a run is, when the schedule runs."""

from __future__ import annotations

from pydantic import Field, field_validator

from cosmo_assets.config.base import StrictModel


class StorageSettings(StrictModel):
    duckdb_path: str = "data/cosmo.duckdb"
    export_dir: str = "data/exports"


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
