"""Budgets: stop starting model calls before a run or a partition spends more USD or tokens than configured.

A partition's spend is counted here; a run's spend is added up in a ledger that every process of the run
shares (SQLite beside the DuckDB file, or Redis), because a run may draft its partitions in several
processes. Only paid calls count: cache hits are free.

A budget is a ceiling, not a target: a call starts only when the spend so far, plus the most that every
call in flight and this one can cost (prompt plus `max_tokens`, see LLMClient._worst_case), stays within
every limit. A call that does not fit waits for those in flight to answer (their real spend is usually
less than reserved); when nothing is in flight and it still does not fit, generation stops. Calls
already in flight finish and are kept: they are paid for. Several processes of one run share the run's
spend through the ledger but not their reservations, so only they together may pass a run limit, by
at most what was in flight elsewhere.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cosmo_assets.config import BudgetLimits, BudgetSettings


@dataclass
class Spend:
    usd: float = 0.0
    tokens: int = 0
    calls: int = 0


class SpendLedger(Protocol):
    def add(self, scope: str, usd: float, tokens: int) -> Spend:
        """Add one call's spend to a run; return the run's total so far, across every process."""
        ...

    def total(self, scope: str) -> Spend: ...


class DiskLedger:
    """A run's spend in a SQLite file; each addition is one atomic upsert, so processes may add at once."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS spend (scope TEXT PRIMARY KEY, usd REAL NOT NULL, tokens INTEGER NOT NULL,"
            " calls INTEGER NOT NULL, updated_at REAL NOT NULL)"
        )

    def add(self, scope: str, usd: float, tokens: int) -> Spend:
        with self._lock:
            row = self._con.execute(
                "INSERT INTO spend (scope, usd, tokens, calls, updated_at) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (scope) DO UPDATE SET usd = usd + excluded.usd, tokens = tokens + excluded.tokens, "
                "calls = calls + 1, updated_at = excluded.updated_at RETURNING usd, tokens, calls",
                (scope, usd, tokens, time.time()),
            ).fetchone()
        return Spend(float(row[0]), int(row[1]), int(row[2]))

    def total(self, scope: str) -> Spend:
        with self._lock:
            row = self._con.execute("SELECT usd, tokens, calls FROM spend WHERE scope = ?", (scope,)).fetchone()
        return Spend(float(row[0]), int(row[1]), int(row[2])) if row else Spend()

    def close(self) -> None:
        with self._lock:
            self._con.close()


class RedisLedger:
    """A run's spend in Redis, for runs whose partitions are drafted on several machines."""

    def __init__(self, url: str, namespace: str):
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        self.namespace = namespace

    def _name(self, scope: str) -> str:
        return f"{self.namespace}:spend:{scope}"

    def add(self, scope: str, usd: float, tokens: int) -> Spend:
        pipe = self._client.pipeline()
        pipe.hincrbyfloat(self._name(scope), "usd", usd)
        pipe.hincrby(self._name(scope), "tokens", tokens)
        pipe.hincrby(self._name(scope), "calls", 1)
        usd_total, tokens_total, calls = pipe.execute()
        return Spend(float(usd_total), int(tokens_total), int(calls))

    def total(self, scope: str) -> Spend:
        data = self._client.hgetall(self._name(scope))
        return Spend(float(data.get(b"usd", 0)), int(data.get(b"tokens", 0)), int(data.get(b"calls", 0)))

    def close(self) -> None:
        self._client.close()


def _exceeds(limits: BudgetLimits, spent: Spend, expected_usd: float, expected_tokens: float) -> str | None:
    """Which limit the expected spend would pass, in words; None when both fit."""
    if limits.max_usd is not None and spent.usd + expected_usd > limits.max_usd:
        return f"max_usd {limits.max_usd:g} (spent ${spent.usd:.4f})"
    if limits.max_tokens is not None and spent.tokens + expected_tokens > limits.max_tokens:
        return f"max_tokens {limits.max_tokens:,} (spent {spent.tokens:,} tokens)"
    return None


class Budget:
    """Decides, before each model call, whether the run's and the partition's budgets still allow it."""

    def __init__(
        self,
        settings: BudgetSettings,
        ledger: SpendLedger | None = None,
        scope: str | None = None,
    ):
        self.settings = settings
        self.ledger = ledger if settings.run.is_set else None
        if settings.run.is_set and (ledger is None or not scope):
            raise ValueError("a run budget needs a spend ledger and the run's scope")
        self.scope = scope
        self.partition = Spend()
        self.run = self.ledger.total(scope) if self.ledger else Spend()
        self.stop_reason: str | None = None

    @property
    def is_set(self) -> bool:
        return self.settings.run.is_set or self.settings.partition.is_set

    def blocks(self, reserved_usd: float, reserved_tokens: float, next_usd: float, next_tokens: float) -> str | None:
        """Why the next call may not start now, or None when it may: the spend so far plus the most the
        calls in flight (`reserved_*`) and the next one (`next_*`) can cost would pass a limit."""
        if self.stop_reason is not None:
            return self.stop_reason
        if not self.is_set:
            return None
        usd, tokens = reserved_usd + next_usd, reserved_tokens + next_tokens
        if self.ledger is not None:  # what the run's other processes have spent meanwhile
            self.run = self.ledger.total(self.scope)
        for name, limits, spent in (("run", self.settings.run, self.run), ("partition", self.settings.partition, self.partition)):
            passed = _exceeds(limits, spent, usd, tokens)
            if passed:
                return f"{name} budget reached: {name} {passed}"
        return None

    def stop(self, reason: str) -> None:
        """Once a budget stops generation it stays stopped, so a partition does not resume in the gaps."""
        self.stop_reason = reason

    def record(self, usd: float, tokens: int) -> None:
        """Count one paid call, in the partition and in the run's shared ledger."""
        self.partition.usd += usd
        self.partition.tokens += tokens
        self.partition.calls += 1
        if self.ledger is not None:
            self.run = self.ledger.add(self.scope, usd, tokens)
