"""Real Postgres and Redis for the team tests: Debian's binaries (installed by .ci/run), each started on
a free loopback port in a temporary folder and stopped by its PID."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin(name: str) -> str:
    """Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package (.ci/run does)")
    return found


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 60) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "cosmo"

    def dsn(self, database: str) -> str:
        return f"dbname={database} host=127.0.0.1 port={self.port} user={self.user}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        con = psycopg2.connect(self.dsn("postgres"))
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        con.close()


@contextmanager
def postgres(*databases: str) -> Iterator[Postgres]:
    """A throwaway cluster (trust auth, loopback only). The server refuses to run as root, so as root it
    runs as Debian's `postgres` user, in a folder that user owns."""
    folder = Path(tempfile.mkdtemp(prefix="cosmo-pg-"))
    as_root = os.geteuid() == 0
    user = {"user": "postgres", "group": "postgres", "extra_groups": []} if as_root else {}
    if as_root:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(
        [postgres_bin("initdb"), "-D", str(data), "-U", "cosmo", "--auth=trust", "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True, **user,
    )
    port = free_port()
    server = subprocess.Popen(
        [postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("wb"), **user,
    )
    try:
        pg = Postgres(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(pg.dsn("postgres")).close()
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {(folder / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        for name in databases:
            pg.create_database(name)
        yield pg
    finally:
        stop(server, signal.SIGINT)  # fast shutdown: roll back, close connections, exit
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis without persistence; yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="cosmo-redis-"))
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(server)
        shutil.rmtree(folder, ignore_errors=True)
