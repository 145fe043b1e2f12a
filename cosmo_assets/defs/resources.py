"""The project's resource: where the config lives, how big a run is, and the DuckDB database (dagster-duckdb)."""

from __future__ import annotations

from functools import cached_property

import dagster as dg
from dagster_duckdb import DuckDBResource

from cosmo_assets.config import CosmoConfig, load_config
from cosmo_assets.fingerprints import CONFIGURED
from cosmo_assets.storage import Storage


class CosmoResource(dg.ConfigurableResource):
    """Project settings for a run. Fields left unset fall back to configs/ (and its env overrides)."""

    config_dir: str | None = None
    # The DuckDB database the stage tables live in (shown in the UI as the `duckdb` resource); unset, the
    # configured path (project.yaml storage.duckdb_path or COSMO_DUCKDB_PATH).
    duckdb: DuckDBResource | None = None
    seeds_per_partition: int | None = None  # overrides configs/project.yaml run.seeds_per_partition
    full_size: bool = False  # every seed of the knowledge base, whatever the configured sample size

    @cached_property
    def config(self) -> CosmoConfig:
        return load_config(self.config_dir)

    @cached_property
    def storage(self) -> Storage:
        from cosmo_assets.lake import open_storage  # the lake in team mode (storage.backend: ducklake)

        return open_storage(self.config, self.duckdb)

    def seed_limit(self, config: CosmoConfig | None = None) -> int | None:
        """Seeds drawn per partition in a run, under `config` (default: the config this run loaded)."""
        if self.full_size:
            return None
        return self.seeds_per_partition or (config or self.config).project.run.seeds_per_partition

    def judged_size(self) -> int | str | None:
        """The size partitions are judged at: the configured one unless this run asks for its own."""
        return self.seed_limit() if self.full_size or self.seeds_per_partition else CONFIGURED
