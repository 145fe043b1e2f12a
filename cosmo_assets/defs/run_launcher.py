"""Dagster's default run launcher, plus the health check its run monitoring needs: a run whose
process died is reported FAILED, so the daemon marks it failed and frees its pool slots
(dagster_home/dagster.yaml: run_launcher, run_monitoring)."""

from __future__ import annotations

from dagster._core.launcher import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

from cosmo_assets.run_health import process_is_dead


class ProcessCheckingRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        dead = process_is_dead(self._instance, run)
        if dead:
            return CheckRunHealthResult(WorkerStatus.FAILED, "the run's process died (killed or crashed)")
        # Alive, or not known (another machine, no PID reported yet): monitoring fails anything not RUNNING.
        return CheckRunHealthResult(WorkerStatus.RUNNING)
