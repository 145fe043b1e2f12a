"""Team mode end to end on real engines, all on loopback: a Dagster instance on Postgres, the stage
tables in a DuckLake (Postgres catalog, files in a folder), steps on two Celery workers through Redis,
the LLM cache in Redis, and a backfill launched by the daemon. Then a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cosmo_assets.config import PROJECT_ROOT, load_config
from cosmo_assets.lake import LakeStorage, open_storage
from cosmo_assets_tests.conftest import edit_yaml, instance_config, make_config_dir
from cosmo_assets_tests.fake_llm_server import FakeLLMServer
from cosmo_assets_tests.services import postgres, redis_server, stop

FIRST = ("alpha", "beta", "gamma", "delta")
SECOND = ("epsilon", "zeta")  # backfilled while a worker is killed
SEEDS = 3
IN_FLIGHT = 2
REDELIVERY_S = 75  # Redis's visibility_timeout in this test
BIN = Path(sys.executable).parent
WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")


def team_env(tmp_path: Path, pg, redis_url: str, server: FakeLLMServer, config_dir: Path) -> dict[str, str]:
    # The team's instance settings at the tests' polling pace; releases are not what this test is about.
    home = instance_config(tmp_path / "dagster_home", PROJECT_ROOT / "deploy" / "dagster_home" / "dagster.yaml",
                           auto_materialize={"enabled": False})
    # The shipped worker settings, with a shorter redelivery time so a killed worker's step comes back
    # within REDELIVERY_S (still two and a half times the longest step here on a loaded machine, 30 s), and
    # Redis swept for such steps every 2 s rather than every 100 s (kombu's default: 10 s x every 10th sweep).
    celery = yaml.safe_load((PROJECT_ROOT / "deploy" / "celery.yaml").read_text())
    celery["execution"]["config"]["config_source"]["broker_transport_options"].update(
        visibility_timeout=REDELIVERY_S, unacked_restore_interval=2, unacked_restore_throttle=1)
    (tmp_path / "celery.yaml").write_text(yaml.safe_dump(celery))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COSMO_", "DAGSTER_"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the worker command starts `celery`
        "DAGSTER_HOME": str(home),
        "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",  # a loaded CI machine loads the code slowly
        "COSMO_DAGSTER_PG_URL": pg.url("dagster"),
        "COSMO_CONFIG_DIR": str(config_dir),
        "COSMO_STORAGE_BACKEND": "ducklake",
        "COSMO_DUCKLAKE_CATALOG": f"postgres:{pg.dsn('lake')}",
        "COSMO_DUCKLAKE_DATA_PATH": str(tmp_path / "shared" / "lake"),
        "COSMO_EXECUTOR": "celery",
        "COSMO_CELERY_CONFIG": str(tmp_path / "celery.yaml"),
        "COSMO_CELERY_BROKER": f"{redis_url}/1",
        "COSMO_CELERY_BACKEND": f"{redis_url}/2",
        "COSMO_LLM_CACHE_BACKEND": "redis",
        "COSMO_REDIS_URL": f"{redis_url}/0",
        "COSMO_LLM_MODEL": "openai/test-model",
        "COSMO_LLM_API_BASE": server.api_base,
        "COSMO_LLM_API_KEY": "test-key-not-secret",
    }


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own session: the worker's pool processes are stopped (or killed) with it, by its group id.
    return subprocess.Popen(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", env["COSMO_CELERY_CONFIG"],
         "--name", name, "--", "--concurrency", "1"],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    stop(process)


def backfill(env: dict[str, str], domains: tuple[str, ...]) -> None:
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "backfill", "-w", WORKSPACE, "-j", "generate",
         "--partitions", ",".join(f"{d}|en" for d in domains), "--noprompt"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def runs_of(instance: dg.DagsterInstance, domains: tuple[str, ...]) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs(dg.RunsFilter(job_name="generate")) if r.tags["dagster/partition"].split("|")[0] in domains]


def wait_for(instance, domains, count: int, daemon: subprocess.Popen, limit_s: float = 900) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        runs = runs_of(instance, domains)
        if len(runs) >= count and all(r.is_finished for r in runs):
            return runs
        assert daemon.poll() is None, "the daemon stopped"
        time.sleep(2)
    raise AssertionError(f"{count} runs of {domains} did not finish within {limit_s} s")


def failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    return [f"{r.tags['dagster/partition']}: {e.message[:800]}" for r in runs for e in instance.all_logs(r.run_id)
            if e.dagster_event and (e.dagster_event.is_step_failure or e.dagster_event.is_run_failure
                                    or e.dagster_event.event_type_value == "ENGINE_EVENT" and "rror" in e.message)]


def workers_of(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> dict[str, str]:
    """Which Celery worker each step ran on (the executor's engine event names it), by 'run step'."""
    placed = {}
    for run in runs:
        for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            metadata = event.dagster_event.engine_event_data.metadata or {}
            if "Celery worker" in metadata:
                placed[f"{run.run_id} {event.step_key}"] = metadata["Celery worker"].value.split("@")[0]
    return placed


def stage_counts(storage: LakeStorage, domains: tuple[str, ...]) -> list[tuple]:
    return [tuple(r) for r in storage.query(
        """SELECT s.domain, count(DISTINCT s.seed_id), count(DISTINCT o.outline_id), count(DISTINCT d.draft_id),
                  (SELECT count(*) FROM drafts x WHERE x.domain = s.domain),
                  (SELECT count(*) FROM filtered_articles f WHERE f.domain = s.domain)
                  + (SELECT count(*) FROM rejected_drafts r WHERE r.domain = s.domain)
           FROM seeds s JOIN outlines o USING (seed_id) JOIN drafts d USING (outline_id)
           WHERE s.domain IN (SELECT unnest($domains)) GROUP BY s.domain ORDER BY s.domain""",
        {"domains": list(domains)}).iter_rows()]


@pytest.mark.starts_first
@pytest.mark.timeout(3600)  # six partitions through a daemon, Postgres, Redis and two workers, one killed
def test_a_team_backfills_on_two_workers_and_survives_a_killed_worker(tmp_path, monkeypatch):
    config_dir = make_config_dir(tmp_path, FIRST + SECOND)
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=SEEDS))
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(max_in_flight=IN_FLIGHT))
    logs = tmp_path / "logs"
    logs.mkdir()
    workers: dict[str, subprocess.Popen] = {}
    daemon = None
    with postgres("dagster", "lake") as pg, redis_server() as redis_url, FakeLLMServer(delay_s=0.2) as server:
        env = team_env(tmp_path, pg, redis_url, server, config_dir)
        for name in ("COSMO_CONFIG_DIR", "COSMO_STORAGE_BACKEND", "COSMO_DUCKLAKE_CATALOG", "COSMO_DUCKLAKE_DATA_PATH", "COSMO_DAGSTER_PG_URL"):
            monkeypatch.setenv(name, env[name])
        boot = subprocess.run([sys.executable, "-m", "cosmo_assets", "lake", "bootstrap"], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)
        assert boot.returncode == 0 and "lake ready" in boot.stdout, boot.stderr[-3000:]
        storage = open_storage(load_config())
        assert isinstance(storage, LakeStorage)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])  # makes the instance's tables once
        try:
            for name in ("w1", "w2"):
                workers[name] = start_worker(name, env, logs / f"{name}.log")
            # Its own session, as the workers: the code server it starts is stopped with it.
            daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE], cwd=PROJECT_ROOT, env=env,
                                      stdout=(logs / "daemon.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

            # 1. Four partitions, their steps spread over both workers: every row once.
            backfill(env, FIRST)
            runs = wait_for(instance, FIRST, len(FIRST), daemon)
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * len(FIRST), failures(instance, runs)
            assert stage_counts(storage, FIRST) == [(d, SEEDS, SEEDS, SEEDS, SEEDS, SEEDS) for d in sorted(FIRST)]
            assert set(workers_of(instance, runs).values()) == {"w1", "w2"}
            assert server.requests == len(FIRST) * SEEDS == len(set(server.prompts))

            # 2. Slower answers, and the worker writing drafts is killed (SIGKILL, no goodbye) mid-step.
            server.delay_s = 1.5
            asked_before = server.requests
            backfill(env, SECOND)
            deadline = time.monotonic() + 600
            while True:
                placed = workers_of(instance, runs_of(instance, SECOND))
                drafting = sorted(worker for key, worker in placed.items() if key.endswith(" drafts"))
                if drafting and server.requests > asked_before:
                    break
                assert time.monotonic() < deadline, f"no drafts step of {SECOND} started: {placed}"
                time.sleep(0.5)
            victim = drafting[0]
            stop_group(workers[victim], signal.SIGKILL)
            answered_at_kill = set(server.answered)

            # The surviving worker takes the killed step back (acknowledged late), or the run fails and
            # is run again; either way every partition ends complete.
            runs = wait_for(instance, SECOND, len(SECOND), daemon)
            failed = [r.tags["dagster/partition"].split("|")[0] for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
            if failed:
                backfill(env, tuple(failed))
                runs = wait_for(instance, SECOND, len(SECOND) + len(failed), daemon)
            latest = {}
            for run in sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp):
                latest[run.tags["dagster/partition"]] = run.status
            assert set(latest.values()) == {dg.DagsterRunStatus.SUCCESS}

            assert stage_counts(storage, SECOND) == [(d, SEEDS, SEEDS, SEEDS, SEEDS, SEEDS) for d in sorted(SECOND)]
            asked = server.prompts[asked_before:]
            repeated = {p for p in set(asked) if asked.count(p) > 1}
            # An answer that arrived before the kill was in the shared cache: never asked for again.
            assert not repeated & answered_at_kill
            # Only requests cut off in flight by the kill (at most the step's in-flight limit) were asked twice.
            assert len(asked) - len(set(asked)) <= IN_FLIGHT
            # The cache is the team's: a prompt another partition already paid for (the same seed drawn
            # in two domains) is not asked again either.
            assert not set(asked) & set(server.prompts[:asked_before])
        finally:
            for worker in workers.values():
                stop_group(worker)
            if daemon is not None:
                stop_group(daemon)
            instance.dispose()


def test_team_settings_put_steps_on_celery_and_schedule_the_lake_upkeep(tmp_path, monkeypatch):
    from cosmo_assets.config import ConfigError
    from cosmo_assets.definitions import build_definitions
    from cosmo_assets.defs.team import MAINTENANCE_JOB

    config_dir = make_config_dir(tmp_path)
    monkeypatch.setenv("COSMO_CONFIG_DIR", str(config_dir))
    single = build_definitions(load_config())
    assert single.resolve_job_def("generate").executor_def.name == "in_process"
    assert [s.name for s in single.schedules] == ["nightly_generate"]  # a DuckDB file has no snapshots to expire

    monkeypatch.setenv("COSMO_STORAGE_BACKEND", "ducklake")
    monkeypatch.setenv("COSMO_DUCKLAKE_CATALOG", "postgres:dbname=lake host=127.0.0.1")
    monkeypatch.setenv("COSMO_EXECUTOR", "celery")
    team = build_definitions(load_config())
    assert team.resolve_job_def("generate").executor_def.name == "celery"
    assert team.resolve_job_def(MAINTENANCE_JOB).executor_def.name == "in_process"
    weekly = team.get_schedule_def("weekly_lake_maintenance")
    assert weekly.cron_schedule == "0 4 * * 0" and weekly.job_name == MAINTENANCE_JOB

    monkeypatch.setenv("COSMO_CELERY_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing.yaml: expected a Celery settings file"):
        build_definitions(load_config())
    monkeypatch.setenv("COSMO_EXECUTOR", "ray")
    with pytest.raises(ConfigError, match=r"\$COSMO_EXECUTOR: expected in_process or celery, got 'ray'"):
        build_definitions(load_config())
