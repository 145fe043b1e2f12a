"""`make ui` for real: the code server, webserver and daemon start on a free loopback port against a private
instance; SIGTERM (what a service manager sends, and what make passes on for Ctrl+C) stops the command,
and no process it started is left running. How fast it stops is measured in bench/b10_ui_stop.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg

from cosmo_assets.config import PROJECT_ROOT
from cosmo_assets.process_tree import alive, command, descendants
from cosmo_assets.services import free_port
from cosmo_assets_tests.conftest import edit_yaml, make_config_dir
from cosmo_assets_tests.test_ui import graphql


def location_loaded(base: str) -> bool:
    try:
        workspace = graphql(base, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
    except OSError:
        return False
    entries = workspace["data"]["workspaceOrError"]["locationEntries"]
    return any(e["name"] == "cosmo_assets" and e["loadStatus"] == "LOADED" for e in entries)


def wait_until(what: str, done, process: subprocess.Popen, log: Path, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert process.poll() is None, f"make ui exited before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s:\n{log.read_text()[-3000:]}"
        time.sleep(2)


def test_make_ui_stops_on_sigterm_and_leaves_no_process_behind(tmp_path):
    config_dir = make_config_dir(tmp_path)
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=2))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)):
        pass  # the instance's tables exist before the webserver and the daemon race to make them
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "make_ui.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("COSMO_", "DAGSTER_"))},
           "DAGSTER_HOME": str(home), "COSMO_CONFIG_DIR": str(config_dir)}
    with log.open("w") as log_file:
        make = subprocess.Popen(["make", "-s", "ui", f"UI_PORT={port}"], cwd=PROJECT_ROOT, env=env,
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    started: set[int] = set()
    try:
        wait_until("code location loaded in the UI", lambda: location_loaded(base), make, log)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            wait_until("daemon heartbeat", lambda: instance.get_daemon_heartbeats(), make, log)
        started = descendants(make.pid)
        commands = " | ".join(command(p) for p in started)
        for service in ("code-server start", "dagster api grpc", "webserver", "daemon"):
            assert service in commands, f"{service} not running under make ui: {commands}"

        make.send_signal(signal.SIGTERM)
        make.wait(timeout=120)  # generous: the figure to beat (10 s) is bench/b10_ui_stop.py's business
        time.sleep(1)
        left = {p: command(p) for p in alive(started)}
        assert left == {}, f"still running after make ui exited: {left}"
        assert "cosmo services: stopped in" in log.read_text()
    finally:  # a failed test leaves nothing running either
        for pid in alive(started | descendants(make.pid)):
            os.kill(pid, signal.SIGKILL)
