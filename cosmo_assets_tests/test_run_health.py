"""A run whose process died is found, marked failed and its pool slot freed; a live one is left alone.
The daemon's run monitoring asks the same question through the project's run launcher."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import uuid

import dagster as dg
from dagster._core.launcher.base import WorkerStatus

from cosmo_assets.config import PROJECT_ROOT
from cosmo_assets.run_health import HOST_TAG, PID_TAG, clear_dead_runs, process_tags


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(dg.DagsterRun(job_name="generate", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags))
    return run_id


def test_a_run_of_a_dead_process_is_failed_and_frees_its_slot_a_live_one_is_kept(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 1)
        dead = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: socket.gethostname()})
        live = started_run(instance, process_tags())
        elsewhere = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: "another-machine"})
        assert instance.event_log_storage.claim_concurrency_slot("llm", dead, "drafts").is_claimed
        assert not instance.event_log_storage.claim_concurrency_slot("llm", live, "drafts").is_claimed  # blocked

        launcher = instance.run_launcher  # what the daemon's run monitoring asks
        assert launcher.supports_check_run_worker_health
        health = {rid: launcher.check_run_worker_health(instance.get_run_by_id(rid)).status for rid in (dead, live, elsewhere)}
        assert health == {dead: WorkerStatus.FAILED, live: WorkerStatus.RUNNING, elsewhere: WorkerStatus.RUNNING}

        assert clear_dead_runs(instance) == [dead]
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(elsewhere).status == dg.DagsterRunStatus.STARTED  # not ours to judge
        # The slot the dead run held is free: the waiting run gets it.
        assert instance.event_log_storage.claim_concurrency_slot("llm", live, "drafts").is_claimed
