"""The drafts stage as a user runs it (a Dagster job or the main command, a real DuckDB file) against
OpenAI-compatible servers on 127.0.0.1 that count requests: faults, a killed run, budgets, secrets."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cosmo_assets.config import load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets_tests.conftest import edit_yaml, main_env, materialization, run_generate, science_project
from cosmo_assets_tests.fake_llm_server import DROP, HANG, MALFORMED, FakeLLMServer, default_reply, status


@pytest.fixture
def project(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Domain alpha on a bigger knowledge base, reached as openai/test-model (conftest.science_project)."""
    return science_project(config_dir, monkeypatch)


def drafts_table(config_dir: Path) -> list[dict]:
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        cursor = con.execute("SELECT d.*, o.prompt FROM drafts d JOIN outlines o USING (outline_id) ORDER BY draft_id")
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def share(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 100


def test_every_draft_ends_generated_or_failed_with_its_reason_when_the_server_misbehaves(project, tmp_path):
    attempts: dict[str, int] = {}
    lock = threading.Lock()
    faults = [status(429, retry_after="0"), status(500), HANG, MALFORMED, DROP]

    def flaky(prompt: str):
        with lock:
            attempts[prompt] = attempts.get(prompt, 0) + 1
            tries = attempts[prompt]
        if share(prompt) < 8:  # about 8% of prompts fail every time
            return status(500)
        if share(prompt) < 38 and tries == 1:  # about 30% more fail once, each way a server can fail
            return faults[share(prompt) % len(faults)]
        return default_reply(prompt)

    with FakeLLMServer(behaviour=flaky) as server:
        result = run_generate(project, tmp_path, seeds=24, api_base=server.api_base)
    rows = drafts_table(project)
    assert len(rows) == 24 and len({r["draft_id"] for r in rows}) == 24  # one each, none duplicated
    by_status = {s: [r for r in rows if r["status"] == s] for s in {r["status"] for r in rows}}
    assert set(by_status) <= {"ok", "failed"}
    expected_failed = {p for p in attempts if share(p) < 8}
    assert {r["prompt"] for r in by_status.get("failed", [])} == expected_failed
    for r in by_status.get("failed", []):
        assert r["text"] is None and r["attempts"] == 3
        assert r["error"].startswith("InternalServerError (HTTP 500) after 3 attempts") and "injected 500" in r["error"]
    for r in by_status["ok"]:
        assert r["text"] and r["error"] is None and r["completion_tokens"] > 0
        assert r["attempts"] == (2 if 8 <= share(r["prompt"]) < 38 else 1)
    assert any(r["attempts"] == 2 for r in by_status["ok"]), "some requests should have needed a retry"
    # The counts add up: every request the server saw is an attempt on a draft.
    assert sum(r["attempts"] for r in rows) == server.requests
    meta = materialization(result, "drafts")
    assert meta["generated"] + meta["failed"] == 24 and meta["failed"] == len(expected_failed)
    assert meta["model_calls"] == server.requests
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed_share = len(expected_failed) / 24
    assert checks["drafts_contract"].passed == (failed_share <= 0.2)


def test_a_failed_share_over_the_limit_fails_the_drafts_check_and_stops_the_filter(project, tmp_path):
    with FakeLLMServer(behaviour=lambda p: 400 if share(p) < 50 else default_reply(p)) as server:
        result = run_generate(project, tmp_path, seeds=8, api_base=server.api_base)
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "drafts_contract"]
    assert not check.passed and "at least 80% of requests succeed (model.yaml max_failed_share)" in check.description
    assert "filtered_articles" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert len(drafts_table(project)) == 8  # the failed drafts are kept with their errors


def test_a_budget_reached_mid_partition_stops_generation_keeps_the_rows_and_says_so(project, tmp_path):
    edit_yaml(project / "model.yaml", lambda m: m.update(max_in_flight=2, max_tokens=60,
                                                         budget={"partition": {"max_tokens": 1500}}))
    with FakeLLMServer() as server:
        result = run_generate(project, tmp_path, seeds=12, api_base=server.api_base)
        first_requests = server.requests
        rows = drafts_table(project)
        ok = [r for r in rows if r["status"] == "ok"]
        skipped = [r for r in rows if r["status"] == "skipped_budget"]
        assert result.success
        assert len(rows) == 12 and ok and skipped and len(ok) + len(skipped) == 12
        assert len(ok) == first_requests
        assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in ok) <= 1500
        assert all("partition budget reached" in r["error"] and r["attempts"] == 0 for r in skipped)
        meta = materialization(result, "drafts")
        assert meta["skipped_budget"] == len(skipped) and "partition budget reached" in meta["budget_stop"]
        assert any(level == logging.WARNING and "partition budget reached" in m and "generation stopped" in m
                   for level, m in result.log_lines)

        # A re-run with the budget raised makes only the drafts that were skipped.
        edit_yaml(project / "model.yaml", lambda m: m.update(budget={"partition": {"max_tokens": None}}))
        again = run_generate(project, tmp_path, seeds=12, api_base=server.api_base)
    assert again.success
    assert server.requests - first_requests == len(skipped)
    rows = drafts_table(project)
    assert [r["status"] for r in rows] == ["ok"] * 12
    assert sum(r["cache_hit"] for r in rows) == len(ok)


def main_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cosmo_assets", "run", "--domains", "alpha", *args]


def test_a_run_killed_half_way_pays_on_rerun_only_for_what_had_not_finished(project, tmp_path):
    edit_yaml(project / "model.yaml", lambda m: m.update(timeout_s=60, max_in_flight=4))
    answer_first, total = 5, 12
    release = threading.Event()
    given = []
    lock = threading.Lock()

    def answer_some_then_hang(prompt: str):
        with lock:
            answering = len(given) < answer_first
            if answering:
                given.append(prompt)
        if answering:
            return default_reply(prompt)
        release.wait(120)  # the rest never answer before the kill
        return 503

    with FakeLLMServer(behaviour=answer_some_then_hang) as server:
        command = main_command("--seeds", str(total))
        proc = subprocess.Popen(command, env=main_env(project, tmp_path, server.api_base),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 900  # generous: a loaded machine imports slowly
        while not (len(server.answered) >= answer_first and server.in_flight >= 4):
            assert proc.poll() is None and time.monotonic() < deadline, "the run should be drafting"
            time.sleep(0.1)
        time.sleep(1.0)  # the answers sent have long reached the client; the others hang
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        release.set()
        answered_before_kill = set(server.answered)
        seen_before_kill = server.requests

    with FakeLLMServer() as server:
        rerun = subprocess.run(command, env=main_env(project, tmp_path, server.api_base),
                               capture_output=True, text=True, timeout=900)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        asked_again = set(server.prompts)
    assert len(answered_before_kill) == answer_first and seen_before_kill > answer_first
    assert not asked_again & answered_before_kill  # nothing finished before the kill was paid for twice
    assert len(server.prompts) == len(asked_again) == total - answer_first
    rows = drafts_table(project)
    assert len(rows) == total and len({r["draft_id"] for r in rows}) == total
    assert {r["prompt"] for r in rows if r["cache_hit"]} == answered_before_kill
    assert all(r["status"] == "ok" for r in rows)


def test_the_api_key_is_never_written_anywhere(project, tmp_path):
    marker = "cosmo-marker-key-5f3a9c1e7b"
    refused = []

    def refuse_once_quoting_the_key(prompt: str):
        if not refused:
            refused.append(prompt)
            return status(400, echo_auth=True)  # some servers quote the key back in an error
        return default_reply(prompt)

    with FakeLLMServer(behaviour=refuse_once_quoting_the_key) as server:
        result = subprocess.run(
            main_command("--seeds", "6"),
            env=main_env(project, tmp_path, server.api_base, key=marker), capture_output=True, text=True, timeout=900,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(server.auth_headers) == {f"Bearer {marker}"}  # the key was used
    assert marker not in result.stdout and marker not in result.stderr
    [refused_draft] = [r for r in drafts_table(project) if r["status"] == "failed"]
    assert "Incorrect API key provided: Bearer ***" in refused_draft["error"]
    config = load_config(project)
    places = [config.duckdb_path().parent, tmp_path / "dagster_home", config.export_dir()]
    files = [p for place in places for p in Path(place).rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"cosmo.duckdb", "llm_cache.sqlite", "manifest.json"}
    assert any(p.suffix == ".db" for p in files)  # the Dagster instance's event log
    assert not [str(p) for p in files if marker.encode() in p.read_bytes()]
    with duckdb.connect(str(config.duckdb_path()), read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            found = con.execute(f'SELECT count(*) FROM "{table}" AS t WHERE CAST(t AS VARCHAR) LIKE ?',
                                [f"%{marker}%"]).fetchone()[0]
            assert found == 0, table


def test_a_run_budget_is_shared_by_the_partitions_of_one_run(project, tmp_path, monkeypatch):
    edit_yaml(project / "model.yaml", lambda m: m.update(max_in_flight=2, max_tokens=60, budget={"run": {"max_tokens": 2500}}))
    # A partition the budget stopped early keeps few articles; the filter's own minimum is not under test here.
    edit_yaml(project / "filters.yaml", lambda f: f.update(min_kept_share=0))
    with FakeLLMServer() as server:
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        config = load_config(project)
        defs = build_definitions(config, CosmoResource(config_dir=str(project), seeds_per_partition=6))
        (tmp_path / "dagster_home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
            job = defs.resolve_job_def("generate")
            for domain in ("alpha", "beta"):  # one main command: its runs carry the same budget scope
                key = dg.MultiPartitionKey({"domain": domain, "language": "en"})
                assert job.execute_in_process(partition_key=key, instance=instance,
                                              tags={"cosmo/budget_scope": "main-test"}).success
    with duckdb.connect(str(config.duckdb_path()), read_only=True) as con:
        spent, ok, skipped = con.execute(
            "SELECT sum(prompt_tokens + completion_tokens) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'ok'),"
            " count(*) FILTER (WHERE status = 'skipped_budget') FROM drafts").fetchone()
        errors = {e for (e,) in con.execute("SELECT DISTINCT error FROM drafts WHERE status = 'skipped_budget'").fetchall()}
    assert ok == server.requests and ok + skipped == 12 and skipped > 0
    # Both partitions together, not each, and never over: a call starts only if its worst case fits.
    assert spent <= 2500
    assert all(e.startswith("run budget reached: run max_tokens 2,500") for e in errors)


def test_a_wrong_model_name_fails_the_drafts_step_before_any_partition_work(project, tmp_path):
    with FakeLLMServer(models=["test-model"]) as server:
        os.environ["COSMO_LLM_MODEL"] = "openai/test-modle"
        try:
            result = run_generate(project, tmp_path, seeds=3, api_base=server.api_base)
        finally:
            del os.environ["COSMO_LLM_MODEL"]
    assert not result.success and server.requests == 0
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "drafts"
    error = failure.event_specific_data.error.to_string()
    assert "PreflightError: wrong model name" in error and "does not serve 'test-modle'" in error
    with duckdb.connect(str(load_config(project).duckdb_path()), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'drafts'").fetchone()[0] == 0


def test_the_main_command_checks_the_model_before_running_anything(project, tmp_path, monkeypatch, capsys):
    from cosmo_assets.cli import main

    with FakeLLMServer(models=["test-model"]) as server:
        for name, value in main_env(project, tmp_path, server.api_base).items():
            if name.startswith("COSMO_") or name == "DAGSTER_HOME":
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-modle")
        code = main(["run", "--seeds", "2", "--domains", "alpha"])
    stderr = capsys.readouterr().err
    assert code == 2
    assert "model check failed: wrong model name" in stderr and "it serves: test-model" in stderr
    assert server.requests == 0
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_runs() == []  # nothing started
