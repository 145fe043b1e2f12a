"""The main command under interruption, as a user meets it: `kill -9` mid-drafts then a re-run, and
Ctrl+C / SIGTERM. The real command runs as a subprocess on a Dagster instance configured like the
project's (dagster_home/dagster.yaml: the `llm` pool of one slot), against a fake model server on
127.0.0.1 that counts every request."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb

from cosmo_assets.config import PROJECT_ROOT, load_config
from cosmo_assets_tests.conftest import edit_yaml
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, Fault, default_reply

WAIT_S = 900  # generous: a loaded 2-core machine takes minutes to import Dagster and run the early stages
SEEDS = 4  # the test knowledge base has four entities, one outline each: four drafts in alpha|en
ANSWERED_BEFORE_STOP = 2


def command_env(config_dir: Path, home: Path, server: FakeLLMServer) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("COSMO_")},
        "COSMO_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(home),
        "COSMO_LLM_MODEL": "openai/test-model",
        "COSMO_LLM_API_BASE": server.api_base,
        "COSMO_LLM_API_KEY": "test-key-not-secret",
    }


def one_request_at_a_time(config_dir: Path) -> None:
    # With one request in flight, the server receiving request N+1 means answer N is in the cache.
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(max_in_flight=1))


class StallAfter:
    """Answers the first `n` requests, then holds every later one open (a slow model)."""

    def __init__(self, n: int):
        self.n, self.seen, self.lock = n, 0, threading.Lock()

    def __call__(self, prompt: str):
        with self.lock:
            self.seen += 1
            late = self.seen > self.n
        return Fault("hang", hang_s=600) if late else default_reply(prompt)


COMMAND = [sys.executable, "-m", "cosmo_assets", "run", "--domains", "alpha", "--seeds", str(SEEDS)]


def start_command(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(COMMAND, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_command(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(COMMAND, env=env, capture_output=True, text=True, timeout=WAIT_S)


def wait_for_requests(server: FakeLLMServer, count: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while server.requests < count:
        assert proc.poll() is None, f"the command ended before {count} requests: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, f"only {server.requests} requests within {WAIT_S} s"
        time.sleep(0.2)


def draft_prompts(config_dir: Path) -> list[str]:
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT prompt FROM outlines WHERE domain = 'alpha'").fetchall()]


def runs_of(home: Path) -> list[tuple[str, str, str]]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return sorted((r.job_name, r.tags.get("dagster/partition", ""), r.status.value) for r in instance.get_runs())


def test_a_killed_run_frees_its_pool_slot_and_the_rerun_pays_only_for_the_unfinished_drafts(config_dir, tmp_path):
    one_request_at_a_time(config_dir)
    home = tmp_path / "dagster_home"
    with FakeLLMServer(behaviour=StallAfter(ANSWERED_BEFORE_STOP)) as first:
        proc = start_command(command_env(config_dir, home, first))
        wait_for_requests(first, ANSWERED_BEFORE_STOP + 1, proc)
        proc.kill()  # SIGKILL: no handler runs, the run stays STARTED holding the `llm` slot
        proc.communicate()
    assert runs_of(home) == [("generate", "alpha|en", "STARTED")]

    with FakeLLMServer() as second:
        result = run_command(command_env(config_dir, home, second))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "marked 1 run(s) failed whose process died" in result.stdout
    prompts = draft_prompts(config_dir)
    assert len(prompts) == SEEDS and len(first.answered) == ANSWERED_BEFORE_STOP
    # Exactly the drafts not answered before the kill were requested again, each once.
    assert sorted(second.prompts) == sorted(set(prompts) - set(first.answered))
    assert "[en] alpha: drafts 4 (generated 4, failed 0, budget-skipped 0)" in result.stdout
    assert runs_of(home) == [
        ("generate", "alpha|en", "FAILURE"), ("generate", "alpha|en", "SUCCESS"), ("release", "en", "SUCCESS"),
    ]


def stop_mid_drafts(config_dir: Path, tmp_path: Path, signals: list[signal.Signals]):
    """Runs the command until its drafts step waits on a slow model, sends `signals`, and returns
    (stdout, stderr, return code, requests still held open by the model when the command had exited,
    requests made, the Dagster home)."""
    one_request_at_a_time(config_dir)
    home = tmp_path / "dagster_home"
    with FakeLLMServer(behaviour=StallAfter(ANSWERED_BEFORE_STOP)) as server:
        proc = start_command(command_env(config_dir, home, server))
        wait_for_requests(server, ANSWERED_BEFORE_STOP + 1, proc)
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=WAIT_S)
        still_open = server.in_flight  # the stalled request is held for 600 s: the command did not wait for it
        requests = server.requests
    return out, err, proc.returncode, still_open, requests, home


def test_ctrl_c_stops_the_main_command_cancels_the_run_and_says_how_to_resume(config_dir, tmp_path):
    out, err, code, still_open, requests, home = stop_mid_drafts(config_dir, tmp_path, [signal.SIGINT])
    assert code == 130, out[-2000:] + err[-2000:]
    assert still_open == 1  # it left the slow request unanswered rather than wait for it
    assert requests == ANSWERED_BEFORE_STOP + 1  # no new request after the stop
    assert runs_of(home) == [("generate", "alpha|en", "CANCELED")]  # no release, no next partition
    assert "canceled: generate alpha|en" in out
    assert "resume with: python -m cosmo_assets run --domains alpha --seeds 4" in err
    assert "Traceback" not in out + err

    # The answers received before the stop were kept: the re-run asks only for the rest.
    with FakeLLMServer() as server:
        result = run_command(command_env(config_dir, home, server))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.prompts) == SEEDS - ANSWERED_BEFORE_STOP


def test_sigterm_stops_the_main_command_and_a_second_signal_exits_at_once(config_dir, tmp_path):
    out, err, code, still_open, requests, home = stop_mid_drafts(config_dir, tmp_path, [signal.SIGTERM, signal.SIGINT])
    assert code == 130
    assert "stopped at once (second interrupt)" in err
    assert requests == ANSWERED_BEFORE_STOP + 1
