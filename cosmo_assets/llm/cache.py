"""The response cache: one model answer per model, messages and generation parameters, durable the moment it arrives.

Two backends behind one small interface. `disk` is a SQLite file in WAL mode (not the project's DuckDB
file, which one process at a time may write): each answer is committed on arrival, several processes
may read and write it at once, and a process killed half-way loses only the answers still in flight.
`redis` shares one cache between machines. Nothing here imports litellm, so a warm re-run that finds
every answer here never pays for loading it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from cosmo_assets.config import CacheSettings

# Bumped when the meaning of a stored answer changes, so old entries stop matching instead of misleading.
KEY_VERSION = 1


class CacheError(RuntimeError):
    """The configured cache cannot be opened; the message says which setting to fix."""


def cache_key(identity: Mapping[str, Any], messages: Sequence[Mapping[str, Any]], response_format: Any = None) -> str:
    """A hash of everything that decides an answer: model and parameters (`identity`), messages, output format."""
    payload = json.dumps(
        {"v": KEY_VERSION, "identity": identity, "messages": list(messages), "response_format": response_format},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    """A model's answer as it arrived, with what it cost when it was paid for."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    finish_reason: str | None = None
    answered_by: str | None = None  # the deployment that answered, when several serve the model

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CachedAnswer:
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class ResponseCache(Protocol):
    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]: ...

    def put(self, key: str, answer: CachedAnswer) -> None: ...

    def close(self) -> None: ...


class NoCache:
    """`backend: off`: every request goes to the model."""

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        return {}

    def put(self, key: str, answer: CachedAnswer) -> None:
        pass

    def close(self) -> None:
        pass


class DiskCache:
    """Answers in a SQLite file (WAL mode), committed one by one as they arrive."""

    _CHUNK = 500  # keys per SELECT, under SQLite's bound-parameter limit

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # Autocommit: every INSERT is its own transaction, so an answer is on disk once put() returns.
            self._con = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._con.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) without an fsync per answer.
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, stored_at REAL NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise CacheError(f"response cache {self.path}: cannot open it as SQLite ({exc}); "
                             "set cache.path in configs/model.yaml to a writable file") from exc

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedAnswer] = {}
        with self._lock:
            for start in range(0, len(wanted), self._CHUNK):
                chunk = wanted[start:start + self._CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, answer in self._con.execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk):
                    found[key] = CachedAnswer.from_json(answer)
        return found

    def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO answers (key, answer, stored_at) VALUES (?, ?, ?)",
                (key, answer.to_json(), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._con.close()


class RedisCache:
    """Answers in Redis, for several machines drafting the same partitions."""

    def __init__(self, url: str, namespace: str):
        import redis  # only needed when configured

        self.namespace = namespace
        self._client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            # The URL may hold a password: name the failure, never the URL.
            raise CacheError(f"response cache: Redis is unreachable ({type(exc).__name__}); check the URL in its "
                             "environment variable (cache.redis_url_env in configs/model.yaml)") from exc

    def _name(self, key: str) -> str:
        return f"{self.namespace}:answer:{key}"

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for key, value in zip(chunk, self._client.mget([self._name(k) for k in chunk])):
                if value is not None:
                    found[key] = CachedAnswer.from_json(value)
        return found

    def put(self, key: str, answer: CachedAnswer) -> None:
        self._client.set(self._name(key), answer.to_json())

    def close(self) -> None:
        self._client.close()


def redis_url(settings: CacheSettings) -> str:
    url = os.environ.get(settings.redis_url_env)
    if not url:
        raise CacheError(
            f"configs/model.yaml cache.backend is 'redis' but {settings.redis_url_env} is not set; "
            "set it to the Redis URL (redis://host:6379/0), or use backend: disk"
        )
    return url


def open_cache(settings: CacheSettings, disk_path: str | Path) -> ResponseCache:
    """The configured cache: SQLite at `disk_path`, Redis from the environment, or none."""
    if settings.backend == "off":
        return NoCache()
    if settings.backend == "redis":
        return RedisCache(redis_url(settings), settings.namespace)
    return DiskCache(disk_path)
