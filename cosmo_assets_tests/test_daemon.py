"""The nightly loop with no person: `make daemon`'s command (a real `dagster-daemon`, its code server and run
processes) on a private instance (SQLite, and Postgres for the ticks test), a fake model server on 127.0.0.1,
configs edited between ticks. The input_changes sensor keeps ticking without a failure and asks for exactly the stale stages;
the release follows each re-made domain to a new export through automation alone; the code server is
started once and never replaced (no "No heartbeat received" restart every minute)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus

from cosmo_assets.config import PROJECT_ROOT, load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.run_health import worker_pid
from cosmo_assets_tests.conftest import edit_yaml, instance_config, latest_checks, make_config_dir, stale_only
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, Fault, default_reply
from cosmo_assets_tests.services import postgres

TICK_S = 5  # configs/project.yaml schedule.input_check_interval_s for the test: a tick every few seconds
PARTITION = dg.MultiPartitionKey({"domain": "alpha", "language": "en"})
GENERATE = "seeds,outlines,drafts,filtered_articles,rephrased_articles"


def wait_for(what: str, found: Callable[[], object], daemon: subprocess.Popen, log: Path, limit_s: float = 240):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"dagster-daemon exited:\n{log.read_text()[-3000:]}"
        value = found()
        if value:
            print(f"{time.strftime('%H:%M:%S')} {what}", flush=True)  # shown when the test fails: where time went
            return value
        time.sleep(1)
    raise AssertionError(f"no {what} within {limit_s} s; daemon log:\n{log.read_text()[-3000:]}")


def sensor_ticks(instance: dg.DagsterInstance, name: str) -> list:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    ticks = [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1000)]
    return sorted((t for t in ticks if t.status != TickStatus.STARTED), key=lambda t: t.timestamp)


def finished_runs(instance: dg.DagsterInstance, **tags: str) -> list[dg.DagsterRun]:
    """Runs carrying `tags`, oldest first, once none of them is still queued or running."""
    runs = [r for r in instance.get_runs(dg.RunsFilter(tags=tags))]
    if not runs or any(not r.is_finished for r in runs):
        return []
    return sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)


def exports(instance: dg.DagsterInstance) -> list:
    return instance.fetch_materializations(dg.AssetKey("dataset_export"), limit=100).records


def stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)


@pytest.fixture(params=["sqlite"])
def project(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One domain, two seeds, fast ticks; its partition and release made once before the daemon starts. The
    instance is the project's dagster.yaml on SQLite, or the same with its storage on a throwaway Postgres,
    its daemon polling at the tests' pace (conftest.QUICK_DAEMON)."""
    config_dir = make_config_dir(tmp_path, domains=("alpha",))
    edit_yaml(config_dir / "project.yaml", lambda d: (
        d["run"].update(seeds_per_partition=2), d["schedule"].update(input_check_interval_s=TICK_S)))
    real_text = config_dir / "real_text" / "tiny_real.jsonl"
    real_text.write_text("".join(line for line in real_text.read_text(encoding="utf-8").splitlines(keepends=True)
                                 if '"beta"' not in line), encoding="utf-8")
    home = tmp_path / "dagster_home"
    with contextlib.ExitStack() as stack:
        env = {}
        if request.param == "postgres":
            pg = stack.enter_context(postgres("dagster"))
            instance_config(home, storage={"postgres": {"postgres_url": {"env": "COSMO_DAGSTER_PG_URL"}}})
            env["COSMO_DAGSTER_PG_URL"] = pg.url("dagster")
        else:
            instance_config(home)
        model = stack.enter_context(FakeLLMServer())
        env.update({
            "DAGSTER_HOME": str(home), "COSMO_CONFIG_DIR": str(config_dir), "COSMO_LLM_MODEL": "openai/test-model",
            "COSMO_LLM_API_BASE": model.api_base, "COSMO_LLM_API_KEY": "test-key-not-secret",
        })
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        defs = build_definitions(load_config(config_dir), CosmoResource(config_dir=str(config_dir)))
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        assert defs.resolve_job_def("generate").execute_in_process(partition_key=PARTITION, instance=instance).success
        assert defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success
        yield config_dir, defs, instance, env, tmp_path / "daemon.log", model


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith(("COSMO_", "DAGSTER_"))}, **env}
    with log.open("w") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "cosmo_assets.services", "daemon"],  # `make daemon`
            cwd=PROJECT_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )


@pytest.mark.parametrize("project", ["sqlite", "postgres"], indirect=True)
def test_the_daemon_alone_keeps_partitions_and_the_release_current_through_config_changes(project):
    config_dir, defs, instance, env, log, _ = project
    daemon = start_daemon(env, log)
    try:
        # Tick 1: nothing changed. Every partition's check is reported current; nothing is requested.
        wait_for("first input_changes tick", lambda: sensor_ticks(instance, "input_changes"), daemon, log)

        # A setting that changes how, not what (the model's timeout): two ticks, nothing requested.
        edit_yaml(config_dir / "model.yaml", lambda d: d.update(timeout_s=d["timeout_s"] + 1))
        quiet = len(sensor_ticks(instance, "input_changes"))
        wait_for("two ticks after a timeout change", lambda: len(sensor_ticks(instance, "input_changes")) >= quiet + 2,
                 daemon, log)
        assert not instance.get_runs(dg.RunsFilter(tags={"cosmo/trigger": "input_changes"}))

        # The domain's config changes: all four stages of its partition, then the release, again by themselves.
        edit_yaml(config_dir / "domains" / "alpha.yaml", lambda d: d.update(title="Alpha, edited"))
        wait_for("the domain run", lambda: finished_runs(instance, **{"cosmo/trigger": "input_changes"}), daemon, log,
                 limit_s=900)
        second_export = len(exports(instance))
        wait_for("a release after the domain run", lambda: len(exports(instance)) > second_export
                 and finished_runs(instance, **{"dagster/from_automation_condition": "true"}), daemon, log, limit_s=900)
        sensor_runs = finished_runs(instance, **{"cosmo/trigger": "input_changes"})
        assert [(r.tags["dagster/partition"], r.tags["cosmo/stages"], r.status) for r in sensor_runs] == [
            ("alpha|en", GENERATE, dg.DagsterRunStatus.SUCCESS)]
        assert sensor_runs[0].tags["cosmo/why"] == "seeds: configs/domains/alpha.yaml changed"

        # Two more ticks once everything settled: still no failure, nothing more to do.
        settled = len(sensor_ticks(instance, "input_changes"))
        wait_for("two more ticks", lambda: len(sensor_ticks(instance, "input_changes")) >= settled + 2, daemon, log)
    finally:
        stop(daemon)

    ticks = sensor_ticks(instance, "input_changes")
    assert len(ticks) >= 5
    # Minutes of ticks on one code server: dagster-daemon's own would have been replaced every 60 s.
    output = log.read_text()
    assert "No heartbeat received" not in output
    assert output.count("Started Dagster code server for module cosmo_assets.definitions") == 1, output[-3000:]
    assert [t.status for t in ticks if t.status == TickStatus.FAILURE] == [], ticks[-1].error
    requested = [run_id for t in ticks for run_id in t.run_ids]
    assert len(requested) == 1  # the domain run, nothing else
    releases = finished_runs(instance, **{"dagster/from_automation_condition": "true"})
    # One release, after the whole domain run (not one between its filter and rephrasing steps, then another).
    assert len(releases) == 1 and releases[0].status == dg.DagsterRunStatus.SUCCESS
    assert {r.tags.get("dagster/partition") for r in releases} == {"en"}
    latest_export = exports(instance)[0]
    assert instance.get_run_by_id(latest_export.run_id).tags.get("dagster/from_automation_condition") == "true"
    assert stale_only(defs, instance, config_dir) == set()
    # Every partition's check says current again, the last report stored over earlier ones.
    assert {e.passed for e in latest_checks(instance).values()} == {True}


def test_the_daemon_fails_a_run_whose_process_was_killed_frees_its_slot_and_the_next_run_finishes(project):
    """kill -9 of a run worker the daemon launched: the run is marked failed and its `llm` slot freed with
    no person involved, and the sensor's next run makes the partition, paying once for each unanswered draft."""
    config_dir, defs, instance, env, log, model = project
    model.behaviour = lambda prompt: Fault("hang", hang_s=600)  # the run's drafts wait on a slow model
    before = len(model.prompts)
    daemon = start_daemon(env, log)
    try:
        wait_for("first input_changes tick", lambda: sensor_ticks(instance, "input_changes"), daemon, log)
        edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=3))
        wait_for("a model request from the daemon's run", lambda: model.in_flight, daemon, log, limit_s=900)
        [killed] = instance.get_runs(dg.RunsFilter(tags={"cosmo/trigger": "input_changes"},
                                                    statuses=[dg.DagsterRunStatus.STARTED]))
        os.kill(worker_pid(instance, killed), signal.SIGKILL)
        time.sleep(1)
        unanswered = model.prompts[before:]
        model.behaviour = default_reply

        wait_for("the killed run marked finished", lambda: instance.get_run_by_id(killed.run_id).is_finished, daemon, log)
        wait_for("a run after the killed one", lambda: [r for r in finished_runs(instance, **{"cosmo/trigger": "input_changes"})
                                                       if r.run_id != killed.run_id], daemon, log, limit_s=900)
    finally:
        stop(daemon)

    runs = finished_runs(instance, **{"cosmo/trigger": "input_changes"})
    assert [(r.tags["dagster/partition"], r.status) for r in runs] == [
        ("alpha|en", dg.DagsterRunStatus.FAILURE), ("alpha|en", dg.DagsterRunStatus.SUCCESS)]
    assert not instance.event_log_storage.get_concurrency_info("llm").claimed_slots
    rerun = model.prompts[before + len(unanswered):]
    # The re-run asked again for every draft the killed run was waiting on, each once, and for nothing answered.
    assert set(unanswered) <= set(rerun) and len(rerun) == len(set(rerun))
    assert not set(rerun) & set(model.answered[: len(model.answered) - len(rerun)])
