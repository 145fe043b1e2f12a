"""What the client is asked and what it gives back: requests, completions and a batch's report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CompletionRequest:
    key: str  # the caller's id for this request (a draft id)
    messages: tuple[dict[str, str], ...]
    response_format: dict[str, Any] | None = None  # JSON schema output: see structured.json_schema_format


@dataclass
class Completion:
    key: str
    text: str | None
    status: str  # "ok", "failed" or "skipped_budget"
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 0  # model calls made for it in this run: 0 for a cache hit
    cache_hit: bool = False
    finish_reason: str | None = None
    parsed: Any = None  # the JSON answer, for requests with a response_format

    @property
    def paid_tokens(self) -> int:
        return 0 if self.cache_hit else self.prompt_tokens + self.completion_tokens

    @property
    def paid_usd(self) -> float:
        return 0.0 if self.cache_hit else self.cost_usd


@dataclass
class GenerationReport:
    """What one batch of requests came to: the completions in request order, and what it took."""

    completions: list[Completion]
    model_calls: int = 0  # HTTP attempts, retries included
    cache_hits: int = 0
    spent_usd: float = 0.0  # paid in this batch; cache hits are free
    spent_tokens: int = 0
    budget_stop: str | None = None  # why generation stopped early, when a budget stopped it
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for c in self.completions if c.status == status)

    # A report reads as its completions, in request order, for callers that want only those.
    def __iter__(self):
        return iter(self.completions)

    def __len__(self) -> int:
        return len(self.completions)

    def __getitem__(self, index):
        return self.completions[index]
