"""`make ui`, `make webserver`, `make daemon`: Dagster's services over one standing code server, stopped
within seconds on Ctrl+C or SIGTERM with every process they started.

    .venv/bin/python -m cosmo_assets.services ui|webserver|daemon [--host 127.0.0.1] [--port 3000]

Why not `dagster dev` and `dagster-daemon run -w workspace.yaml` as they are:
- `dagster-daemon run` with a `python_module` workspace manages its own code server and replaces it
  every 60 s (its workspace refresh): each minute a new process loads the definitions and the old one
  dies with "No heartbeat received in 20 seconds". Here the code server is started once
  (`dagster code-server start`, which the UI's Reload still reloads) and the webserver and the daemon
  reach it through a `grpc_server` workspace under the same location name, `cosmo_assets`, so
  schedules, sensors and their cursors stay the ones the instance knows.
- `dagster dev` waits up to 60 s for the webserver and 60 s more for the daemon after a signal, leaves
  its code server running after it exits, and started with SIGINT ignored (a background job of a script,
  nohup) maps SIGTERM onto that ignored SIGINT and does not stop at all. Here (with handlers of its own,
  so the services start with both signals at their defaults) each service runs in its own process
  group; a stop sends SIGTERM to every group, waits GRACE_S, then SIGKILLs what is left, run processes
  included (their runs end failed or canceled; run monitoring and `make run` clear them, run_health.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from cosmo_assets.process_tree import group_alive

# config.base.PROJECT_ROOT, without importing the config package: this process only starts and stops others,
# and stays small (stdlib and yaml; Dagster's client is loaded by the short-lived readiness probe below).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCATION = "cosmo_assets"  # workspace.yaml's location name: the instance keys schedule and sensor state by it
GRACE_S = 5.0  # after SIGTERM, how long a service may take to finish before it is killed (the daemon takes ~1 s)
CODE_SERVER_START_S = 600.0  # loading the definitions on a busy 2-core machine takes a minute or more
BIN = Path(sys.executable).parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def code_server_command(port: int) -> list[str]:
    return [str(BIN / "dagster"), "code-server", "start", "-m", "cosmo_assets.definitions", "-a", "defs",
            "-d", str(PROJECT_ROOT), "-h", "127.0.0.1", "-p", str(port), "--location-name", LOCATION]


def write_workspace(folder: Path, port: int) -> Path:
    path = folder / "workspace.yaml"
    path.write_text(yaml.safe_dump({"load_from": [
        {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": LOCATION}}]}))
    return path


def service_commands(service: str, workspace: Path, host: str, port: int) -> dict[str, list[str]]:
    webserver = [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)]
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    return {"ui": {"webserver": webserver, "daemon": daemon}, "webserver": {"webserver": webserver},
            "daemon": {"daemon": daemon}}[service]


class Services:
    """Child processes, each the leader of its own process group, stopped together."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stop_asked = threading.Event()

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen:
        # Its own group: Ctrl+C reaches this process only, and a stop can reach the service's children too.
        self.children[name] = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True)
        return self.children[name]

    def exited(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            if child.poll() is not None:
                return name, child.returncode
        return None

    def stop(self, grace_s: float = GRACE_S) -> None:
        """SIGTERM to every group at once, SIGKILL to what is left after `grace_s`; says what it killed."""
        started = time.monotonic()
        groups = {name: child.pid for name, child in self.children.items()}
        for group in groups.values():
            _signal_group(group, signal.SIGTERM)
        while time.monotonic() - started < grace_s and any(group_alive(g) for g in groups.values()):
            time.sleep(0.1)
        killed = [name for name, group in groups.items() if group_alive(group)]
        for name in killed:
            _signal_group(groups[name], signal.SIGKILL)
        for child in self.children.values():
            child.wait()
        print(f"cosmo services: stopped in {time.monotonic() - started:.1f} s"
              + (f" ({', '.join(killed)} killed after {grace_s:.0f} s)" if killed else ""), file=sys.stderr, flush=True)


def _signal_group(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass  # every process of the group is gone


# Pings the code server until it answers (exit 0) or the time is up (exit 1), in a process of its own.
PROBE = """
import os, sys, time
from dagster._grpc.client import DagsterGrpcClient
client, deadline = DagsterGrpcClient(port=int(sys.argv[1]), host="127.0.0.1"), time.monotonic() + float(sys.argv[2])
while True:
    try:
        client.ping("")
        os._exit(0)
    except Exception:
        if time.monotonic() > deadline:
            os._exit(1)
        time.sleep(1)
"""


def wait_for_code_server(services: Services, port: int, limit_s: float = CODE_SERVER_START_S) -> bool:
    """True once the code server answers; False if it exited, did not answer in time, or a stop came first."""
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(port), str(limit_s)], start_new_session=True)
    while probe.poll() is None and not services.stop_asked.is_set() and services.exited() is None:
        services.stop_asked.wait(0.5)
    if probe.poll() is None:
        probe.kill()
    return probe.wait() == 0


def serve(service: str, host: str, port: int) -> int:
    services = Services()

    def ask_stop(signum, _frame) -> None:
        services.stop_asked.set()

    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)
    code_port = free_port()
    with tempfile.TemporaryDirectory(prefix="cosmo-services-") as folder:
        workspace = write_workspace(Path(folder), code_port)
        try:
            services.start("code server", code_server_command(code_port))
            if wait_for_code_server(services, code_port):
                for name, command in service_commands(service, workspace, host, port).items():
                    services.start(name, command)
                print(f"cosmo services: {', '.join(services.children)} running; Ctrl+C or SIGTERM stops them all "
                      f"within {GRACE_S:.0f} s" + (f"; UI on http://{host}:{port}" if service != "daemon" else ""),
                      flush=True)
            elif not services.stop_asked.is_set() and services.exited() is None:
                print(f"cosmo services: the code server did not answer within {CODE_SERVER_START_S:.0f} s; stopping it",
                      file=sys.stderr, flush=True)
                return 1
            while not services.stop_asked.wait(0.5):
                ended = services.exited()
                if ended:
                    print(f"cosmo services: the {ended[0]} exited with code {ended[1]}; stopping the others",
                          file=sys.stderr, flush=True)
                    return 1
            return 0
        finally:
            services.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cosmo_assets.services", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", choices=["ui", "webserver", "daemon"],
                        help="ui: webserver and daemon; webserver: the UI alone; daemon: queue, schedules, sensors")
    parser.add_argument("--host", default="127.0.0.1", help="where the UI listens (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="the UI's port (default 3000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    return serve(args.service, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
