"""The one LLM client: litellm calls with a bound on requests in flight, retries and per-call accounting.

It knows nothing of Dagster; stages hand it requests and get one Completion back per request, in
order, whether the call succeeded or not.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cosmo_assets.config import ModelSettings
from cosmo_assets.llm.embedded import SERVED_NAME, serve_embedded

# Placeholder key for servers that need none (the embedded model); not a secret.
_NO_KEY = "no-key-needed"


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: a litellm model string, and a base URL and key when the model needs them."""

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, never stored
    embedded: bool = False


@dataclass(frozen=True)
class CompletionRequest:
    key: str  # the caller's id for this request (a draft id)
    messages: tuple[dict[str, str], ...]


@dataclass
class Completion:
    key: str
    text: str | None
    status: str  # "ok" or "failed"
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 0
    cache_hit: bool = False
    finish_reason: str | None = None


@contextmanager
def open_endpoint(settings: ModelSettings) -> Iterator[Endpoint]:
    """Resolve the configured model to an endpoint, starting the embedded server when it is the default."""
    if settings.is_embedded:
        with serve_embedded(settings.embedded) as api_base:
            yield Endpoint(model=f"openai/{SERVED_NAME}", api_base=api_base, api_key=_NO_KEY, embedded=True)
        return
    yield Endpoint(model=settings.model, api_base=settings.api_base, api_key=os.environ.get("COSMO_LLM_API_KEY"))


def _litellm():
    import litellm  # imported lazily: it takes seconds, and the Dagster definitions must load fast

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _transient(exc: Exception) -> bool:
    litellm = _litellm()
    transient = (
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
    )
    return isinstance(exc, transient)


def _short_error(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


class LLMClient:
    def __init__(self, settings: ModelSettings, endpoint: Endpoint, max_retries: int = 3):
        self.settings = settings
        self.endpoint = endpoint
        self.max_retries = max_retries
        self.in_flight = settings.in_flight

    async def complete(self, request: CompletionRequest) -> Completion:
        litellm = _litellm()
        params = self.settings.generation_params()
        attempts = 0
        started = time.perf_counter()
        while True:
            attempts += 1
            try:
                response = await litellm.acompletion(
                    model=self.endpoint.model,
                    messages=list(request.messages),
                    api_base=self.endpoint.api_base,
                    api_key=self.endpoint.api_key,
                    timeout=self.settings.timeout_s,
                    num_retries=0,  # retries are ours, so attempts are counted
                    **params,
                )
                break
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the draft
                if attempts <= self.max_retries and _transient(exc):
                    await asyncio.sleep(min(30.0, 0.5 * 2 ** (attempts - 1)) * (0.5 + random.random()))
                    continue
                return Completion(
                    key=request.key,
                    text=None,
                    status="failed",
                    error=_short_error(exc),
                    attempts=attempts,
                    latency_s=time.perf_counter() - started,
                )
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        text = (choice.message.content or "").strip()
        return Completion(
            key=request.key,
            text=text,
            status="ok" if text else "failed",
            error=None if text else "empty completion",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(response),
            latency_s=time.perf_counter() - started,
            attempts=attempts,
            finish_reason=choice.finish_reason,
        )

    def _cost(self, response: Any) -> float:
        if self.endpoint.embedded:
            return 0.0
        try:
            return float(_litellm().completion_cost(completion_response=response) or 0.0)
        except Exception:  # noqa: BLE001 - a model without a known price costs what we cannot know
            return 0.0

    async def complete_many(
        self, requests: Sequence[CompletionRequest], on_done: Callable[[Completion], None] | None = None
    ) -> list[Completion]:
        gate = asyncio.Semaphore(self.in_flight)

        async def one(request: CompletionRequest) -> Completion:
            async with gate:
                result = await self.complete(request)
            if on_done:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(r) for r in requests)))

    def complete_all(
        self, requests: Sequence[CompletionRequest], on_done: Callable[[Completion], None] | None = None
    ) -> list[Completion]:
        return asyncio.run(self.complete_many(requests, on_done))
