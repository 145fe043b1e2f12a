"""The main command's runs: each job executed in-process on the project's Dagster instance, stoppable
by Ctrl+C (run_control.py), tagged with its process so a later command can tell it died
(run_health.py), and reported in words when it fails or is stopped (run_report.py)."""

from __future__ import annotations

import shlex
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from cosmo_assets.console_log import concise_console
from cosmo_assets.interruption import stop_requested
from cosmo_assets.run_control import EXIT_INTERRUPTED, run_stoppably
from cosmo_assets.run_health import clear_dead_runs, process_tags
from cosmo_assets.run_report import failure_lines, partition_counts, released_rows
from cosmo_assets.storage import Storage


def clear_dead(instance: dg.DagsterInstance) -> None:
    cleared = clear_dead_runs(instance)
    if cleared:
        print(f"marked {len(cleared)} run(s) failed whose process died, freeing their pool slots: {', '.join(cleared)}",
              flush=True)


@dataclass
class MainRuns:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    run_config: Mapping[str, Any]
    tags: Mapping[str, str]
    failures: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    abandoned: str | None = None  # a run still winding down when the command left
    started: float = field(default_factory=time.perf_counter)

    @property
    def stopped(self) -> bool:
        return stop_requested()

    def execute(self, job_name: str, key=None, stages: Sequence[str] | None = None, why: str = "") -> bool:
        """Runs one job (one partition); False when it failed, was canceled or was never started."""
        if self.stopped:
            return False
        label = (f"{job_name} {key}" if key is not None else job_name) + (f" ({', '.join(stages)})" if stages else "")
        print(f"-> {label}" + (f": {why}" if why else ""), flush=True)
        run_id = str(uuid.uuid4())
        job = self.defs.resolve_job_def(job_name).with_logger_defs({"console": concise_console})
        finished, result = run_stoppably(lambda: job.execute_in_process(
            partition_key=key, instance=self.instance, run_config=self.run_config, raise_on_error=False,
            run_id=run_id, tags={**self.tags, **process_tags()},
            asset_selection=[dg.AssetKey(s) for s in stages] if stages else None,
        ), on_stop=lambda: self._mark_canceling(run_id))
        if not finished:
            self._leave(run_id, label)
            return False
        if self.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED:
            self.canceled.append(f"{label} (run {run_id})")
            print(f"   canceled: {label}", flush=True)
            return False
        if not result.success:
            self.failures.append(f"{label} (run {run_id})")
            print(f"   FAILED: {label} (run {run_id} in the Dagster UI)", flush=True)
            for line in failure_lines(self.instance, run_id, str(key) if key is not None else None):
                print(line, flush=True)
        return result.success

    def _mark_canceling(self, run_id: str) -> bool:
        """Tells Dagster the stop is the user's, so the interrupted run ends CANCELED, not FAILURE.
        False while the run is not stored yet (asked again)."""
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            return False
        if not run.is_finished and run.status != dg.DagsterRunStatus.CANCELING:
            self.instance.report_run_canceling(run, "stop asked for on the main command (Ctrl+C or SIGTERM)")
        return True

    def _leave(self, run_id: str, label: str) -> None:
        """A stopped run still busy after the grace period: marked canceled here, its slots freed."""
        run = self.instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self.instance.report_run_canceled(run, "the main command was stopped (Ctrl+C or SIGTERM)")
            self.instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        self.abandoned = run_id
        self.canceled.append(f"{label} (run {run_id})")
        print(f"   canceled: {label} (left while a step was finishing)", flush=True)


def print_summary(config, runs: MainRuns, languages: Sequence[str], domains: Sequence[str], argv: Sequence[str]) -> int:
    """What was made, per language and per partition, and what failed; returns the exit code."""
    import os

    print(f"\n{'stopped' if runs.stopped else 'finished'} in {time.perf_counter() - runs.started:.0f} s")
    from cosmo_assets.lake import open_storage

    storage = open_storage(config)
    lake = getattr(storage, "lake", None)
    print(f"storage: {lake.catalog} (data in {lake.data_path})" if lake else f"DuckDB file: {storage.path}")
    if runs.abandoned is None:  # otherwise a step may still hold the DuckDB file: leave it be
        _print_made(config, storage, languages, domains)
    print(f"Dagster runs: DAGSTER_HOME={os.environ['DAGSTER_HOME']} (`make ui` to browse them)")
    if runs.failures:
        print("\nfailed runs:\n  " + "\n  ".join(runs.failures), file=sys.stderr)
    if runs.stopped:
        command = " ".join(["python -m cosmo_assets", *(shlex.quote(a) for a in argv)])
        print(f"\nstopped on request; canceled: {', '.join(runs.canceled) or 'none'}", file=sys.stderr)
        print(f"resume with: {command}  (answers already received come from the response cache)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if runs.failures else 0


def _print_made(config, storage: Storage, languages: Sequence[str], domains: Sequence[str]) -> None:
    counts = partition_counts(storage, languages, domains)
    released = released_rows(storage)
    for language in languages:
        rows = [r for r in counts if r[0] == language]
        if not rows:
            continue
        drafts, kept, tokens = (sum(r[i] for r in rows) for i in (2, 6, 7))
        print(
            f"[{language}] drafts {drafts}, kept {kept} ({kept / drafts:.0%}), completion tokens {tokens}, "
            f"released {released.get(language, 0)}; export: {config.export_dir() / language}"
        )
        for _, domain, n, generated, failed, skipped, kept_here, _ in rows:
            print(f"[{language}] {domain}: drafts {n} (generated {generated}, failed {failed}, "
                  f"budget-skipped {skipped}), kept {kept_here}")
        print(f"[{language}] review sample: {config.review_sample_path(language)} "
              f"(verdicts go in {config.root / config.balance.review.verdict_files})")
        skipped = sum(r[5] for r in rows)
        if skipped:
            print(
                f"[{language}] budget reached: {skipped} drafts not generated (status skipped_budget); raise the "
                "budget in configs/model.yaml and run again to finish them (drafts already made come from the cache)"
            )
