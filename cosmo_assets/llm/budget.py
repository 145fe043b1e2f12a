"""Budgets: stop starting model calls before a run or a partition spends more USD or tokens than configured.

A partition's spend is counted here; a run's spend is added up in a ledger that every process of the run
shares (SQLite beside the DuckDB file, or Redis), because a run may draft its partitions in several
processes. Only paid calls count: cache hits are free.

A budget cannot know what a call will cost before it answers, so it stops starting calls once the spend
so far, plus the expected spend of the calls in flight and of the next one, would pass a limit. The
expected spend is the mean of the calls answered so far (before the first answer: the prompt plus
`max_tokens`). Calls already in flight finish and are kept: they are paid for.
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

    def allows(self, in_flight: int, first_estimate_usd: float, first_estimate_tokens: float) -> bool:
        """Whether one more call may start while `in_flight` others are running. Once a budget stops
        generation it stays stopped, so a partition does not resume in the gaps between answers."""
        if self.stop_reason is not None:
            return False
        if not self.is_set:
            return True
        if self.partition.calls:
            mean_usd = self.partition.usd / self.partition.calls
            mean_tokens = self.partition.tokens / self.partition.calls
        else:
            mean_usd, mean_tokens = first_estimate_usd, first_estimate_tokens
        expected_usd, expected_tokens = mean_usd * (in_flight + 1), mean_tokens * (in_flight + 1)
        for name, limits, spent in (("run", self.settings.run, self.run), ("partition", self.settings.partition, self.partition)):
            passed = _exceeds(limits, spent, expected_usd, expected_tokens)
            if passed:
                self.stop_reason = f"{name} budget reached: {name} {passed}"
                return False
        return True

    def record(self, usd: float, tokens: int) -> None:
        """Count one paid call, in the partition and in the run's shared ledger."""
        self.partition.usd += usd
        self.partition.tokens += tokens
        self.partition.calls += 1
        if self.ledger is not None:
            self.run = self.ledger.add(self.scope, usd, tokens)
