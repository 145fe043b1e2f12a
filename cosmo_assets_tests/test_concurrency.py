"""Four partitions at once, the way a backfill runs them: the project's Dagster instance config (run
queue, llm pool), a real daemon launching each run in its own process, one DuckDB file for all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb

from cosmo_assets.config import PROJECT_ROOT, load_config
from cosmo_assets_tests.conftest import edit_yaml, instance_config, make_config_dir
from cosmo_assets_tests.fake_llm_server import FakeLLMServer

DOMAINS = ("alpha", "beta", "gamma", "delta")
SEEDS = 3
IN_FLIGHT = 2  # configs/model.yaml max_in_flight in this test
BIN = Path(sys.executable).parent


def wait_for_runs(home: Path, count: int, daemon: subprocess.Popen, quiet_s: float = 600, total_s: float = 3600) -> list[dg.DagsterRun]:
    """Waits for `count` generate runs to finish, as long as they make progress: it fails only when no
    new event reached the instance for `quiet_s` (a stuck run), not when a loaded machine is slow."""
    started = last_change = time.monotonic()
    last_event = None
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while True:
            runs = instance.get_runs(dg.RunsFilter(job_name="generate"))
            if len(runs) == count and all(r.is_finished for r in runs):
                return runs
            assert daemon.poll() is None, "the daemon stopped"
            newest = instance.event_log_storage.get_maximum_record_id()
            now = time.monotonic()
            if newest != last_event:
                last_event, last_change = newest, now
            statuses = sorted(r.status.value for r in runs)
            assert now - last_change < quiet_s, f"no run made progress for {quiet_s} s; runs: {statuses}"
            assert now - started < total_s, f"{count} runs still not finished after {total_s} s; runs: {statuses}"
            time.sleep(0.5)


def test_a_backfill_of_four_partitions_shares_one_duckdb_file_without_losing_rows(tmp_path, monkeypatch):
    config_dir = make_config_dir(tmp_path, DOMAINS)
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=SEEDS))
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(max_in_flight=IN_FLIGHT))
    home = instance_config(tmp_path / "dagster_home", auto_materialize={"enabled": False})  # releases are not what this test is about
    with dg.DagsterInstance.from_config(str(home)):
        pass  # create the instance's tables once, before two processes race to

    # Slow answers keep each drafts step busy long enough for the others to want the model too.
    with FakeLLMServer(delay_s=0.3) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("COSMO_", "DAGSTER_"))},
            "DAGSTER_HOME": str(home),
            "COSMO_CONFIG_DIR": str(config_dir),
            "COSMO_LLM_MODEL": "openai/test-model",
            "COSMO_LLM_API_BASE": server.api_base,
            "COSMO_LLM_API_KEY": "test-key-not-secret",
        }
        workspace = str(PROJECT_ROOT / "workspace.yaml")
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            partitions = ",".join(f"{d}|en" for d in DOMAINS)
            backfill = subprocess.run(
                [str(BIN / "dagster"), "job", "backfill", "-w", workspace, "-j", "generate", "--partitions", partitions, "--noprompt"],
                cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
            )
            assert backfill.returncode == 0, backfill.stderr[-3000:]
            runs = wait_for_runs(home, len(DOMAINS), daemon)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        failures = [
            e.message for r in runs for e in instance.all_logs(r.run_id)
            if e.dagster_event and e.dagster_event.is_step_failure
        ]
        records = {r.dagster_run.run_id: r for r in instance.get_run_records()}
    assert failures == []
    assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(f"{d}|en" for d in DOMAINS)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    spans = sorted((records[r.run_id].start_time, records[r.run_id].end_time) for r in runs)
    assert any(later_start < end for (_, end), (later_start, _) in zip(spans, spans[1:])), "no two runs overlapped"

    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        counts = con.execute("""
            SELECT s.domain, count(DISTINCT s.seed_id), count(DISTINCT o.outline_id), count(DISTINCT d.draft_id),
                   (SELECT count(*) FROM filtered_articles f WHERE f.domain = s.domain)
                   + (SELECT count(*) FROM rejected_drafts r WHERE r.domain = s.domain)
            FROM seeds s JOIN outlines o USING (seed_id) JOIN drafts d USING (outline_id)
            GROUP BY s.domain ORDER BY s.domain""").fetchall()
        totals = con.execute("""
            SELECT (SELECT count(*) FROM seeds), (SELECT count(*) FROM outlines), (SELECT count(*) FROM drafts),
                   (SELECT count(*) FROM filtered_articles) + (SELECT count(*) FROM rejected_drafts)""").fetchone()
    assert counts == [(d, SEEDS, SEEDS, SEEDS, SEEDS) for d in sorted(DOMAINS)]
    assert totals == (4 * SEEDS,) * 4  # no duplicates, no lost rows
    assert server.requests == 4 * SEEDS
    # The llm pool (default_limit 1) lets one drafts step at a time reach the model, across every run.
    assert server.max_in_flight <= 1 * IN_FLIGHT


def _claim_and_hold(home: str, claims: int, start_at: float, holds) -> None:
    """One run's worth of drafts steps: each waits for the llm slot, holds it 20 ms, frees it."""
    instance = dg.DagsterInstance.from_config(home)
    events, run_id = instance.event_log_storage, f"run-{os.getpid()}"
    while time.time() < start_at:  # every process claims from the same instant
        pass
    for k in range(claims):
        step = f"drafts_{k}"
        while not events.claim_concurrency_slot("llm", run_id, step).is_claimed:
            time.sleep(0.001)
        began = time.time()
        time.sleep(0.02)
        holds.put((began, time.time()))
        events.free_concurrency_slot_for_step(run_id, step)


def test_steps_claiming_the_llm_pool_at_the_same_instant_never_hold_it_together(tmp_path):
    """The pool's promise at the level where it broke: on the project's SQLite instance, four processes
    claiming the one `llm` slot at once never hold it together (a read-then-write claim let two in)."""
    import multiprocessing

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 1)
    context = multiprocessing.get_context("spawn")
    holds, claims = context.Queue(), 25
    start_at = time.time() + 5  # after every process has loaded Dagster
    workers = [context.Process(target=_claim_and_hold, args=(str(home), claims, start_at, holds)) for _ in range(4)]
    for worker in workers:
        worker.start()
    spans = sorted(holds.get(timeout=300) for _ in range(4 * claims))
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    overlapping = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert overlapping == [], f"{len(overlapping)} claims of one slot overlapped"
