"""Which Dagster runs died with their process, and clearing them: a run whose process was killed
(kill -9, a crash, a closed laptop) stays STARTED and keeps its `llm` pool slot, so every later
drafts step would wait for it forever. The main command clears them before it starts; the daemon's
run monitoring does the same through ProcessCheckingRunLauncher (defs/run_launcher.py)."""

from __future__ import annotations

import os
import socket

import dagster as dg

PID_TAG = "cosmo/pid"  # the process that executes the run in-process (the main command)
HOST_TAG = "cosmo/host"
PROCESS_START_TAG = "cosmo/process_start"  # tells a reused PID from the original process
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    """Tags that let a later process tell whether this one is still alive."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), PROCESS_START_TAG: _process_start(pid) or ""}


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the PID
    now = _process_start(pid)
    return not (started and now and now != started)  # the PID was reused by a newer process


def worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The run worker a launcher started reports its PID in an engine event ('Started process for run')."""
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event else None
        pid = (data.metadata or {}).get("pid") if data else None
        if pid is not None:
            return int(getattr(pid, "value", pid))
    return None


def process_is_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool | None:
    """True when the run's process on this machine is gone, False when alive, None when unknown
    (another machine, or a run that has not said which process it is)."""
    tags = run.tags
    if PID_TAG in tags:
        if tags.get(HOST_TAG) != socket.gethostname():
            return None
        return not _alive(int(tags[PID_TAG]), tags.get(PROCESS_START_TAG))
    pid = worker_pid(instance, run)
    return None if pid is None else not _alive(pid, None)


def clear_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Marks every unfinished run whose process died as failed and frees its pool slots; returns their IDs."""
    cleared = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        if process_is_dead(instance, run) is True:
            instance.report_run_failed(run, "its process died (killed or crashed); marked failed so its pool slots are freed")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            cleared.append(run.run_id)
    return cleared
