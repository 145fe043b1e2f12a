"""Team mode in Dagster: steps on Celery workers (deploy/celery.yaml) and the weekly lake maintenance.

Nothing here is used on a single machine: the executor stays in-process and there is no lake to tend.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from cosmo_assets.config import PROJECT_ROOT, ConfigError, CosmoConfig
from cosmo_assets.defs.resources import CosmoResource

CELERY_CONFIG = PROJECT_ROOT / "deploy" / "celery.yaml"
MAINTENANCE_JOB = "lake_maintenance"


def celery_settings(path: Path | None = None) -> dict:
    """The executor block of the Celery settings file, which the workers read too (`make worker`)."""
    path = Path(path or os.environ.get("COSMO_CELERY_CONFIG") or CELERY_CONFIG)
    try:
        block = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["execution"]["config"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: expected a Celery settings file with execution.config (broker, backend): {exc}") from None
    return block


def executor() -> dg.ExecutorDefinition:
    """In-process by default; with COSMO_EXECUTOR=celery each step goes to whichever worker is free."""
    chosen = os.environ.get("COSMO_EXECUTOR", "in_process")
    if chosen == "in_process":
        return dg.in_process_executor
    if chosen == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_settings(), name="celery")
    raise ConfigError(f"$COSMO_EXECUTOR: expected in_process or celery, got {chosen!r}")


def build_lake_maintenance(config: CosmoConfig) -> tuple[list[dg.JobDefinition], list[dg.ScheduleDefinition]]:
    """Only a lake keeps snapshots and old files: a DuckDB file has nothing to expire."""
    if config.project.storage.backend != "ducklake":
        return [], []
    keep_days = config.project.storage.keep_snapshots_days

    @dg.op(name="expire_snapshots_and_remove_unused_files")
    def maintain(context, cosmo: CosmoResource) -> None:
        done = cosmo.storage.maintain(keep_days)
        context.log.info(f"lake maintenance (snapshots older than {keep_days} days): {done}")

    @dg.job(name=MAINTENANCE_JOB, executor_def=dg.in_process_executor, description=(
        f"Expire lake snapshots older than {keep_days} days and delete the data files no snapshot reads any more."))
    def lake_maintenance():
        maintain()

    schedule = dg.ScheduleDefinition(
        name="weekly_lake_maintenance", job=lake_maintenance, cron_schedule=config.project.storage.maintenance_cron,
        execution_timezone=config.project.schedule.timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return [lake_maintenance], [schedule]
