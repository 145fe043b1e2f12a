"""The one LLM client: litellm calls with a bound on requests in flight, retries, a response cache, budgets
and per-call accounting.

It knows nothing of Dagster; stages hand it requests and get one Completion back per request, in order,
whether the call succeeded, failed, or was not made because a budget stopped generation. Answers found
in the cache cost nothing and start no model: a warm re-run neither loads litellm nor the embedded server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from cosmo_assets.config import BudgetSettings, ModelSettings
from cosmo_assets.interruption import Interrupted, stop_requested, wait_for_stop
from cosmo_assets.llm.batch import BatchRunner, BatchStore
from cosmo_assets.llm.budget import Budget, DiskLedger, RedisLedger, SpendLedger
from cosmo_assets.llm.cache import CachedAnswer, NoCache, ResponseCache, cache_key, open_cache, redis_url
from cosmo_assets.llm.completions import Completion, CompletionRequest, GenerationReport
from cosmo_assets.llm.concurrency import limiter_for
from cosmo_assets.llm.embedded import SERVED_NAME, serve_embedded
from cosmo_assets.llm.endpoints import (
    NO_KEY,
    Endpoint,
    EndpointUnreachable,
    PreflightError,
    open_endpoint,
    preflight,
    register_embedded_price,
    resolve_endpoints,
)
from cosmo_assets.llm.errors import MalformedAnswer, overloaded, retry_after_s, secret_values, status_of, transient
from cosmo_assets.llm.litellm_setup import load_litellm
from cosmo_assets.llm.online import run_online
from cosmo_assets.llm.structured import UnparseableAnswer, parse_answer

# What callers use, whichever module of llm/ it lives in.
__all__ = [
    "STATUS_FAILED", "STATUS_OK", "STATUS_SKIPPED_BUDGET", "Completion", "CompletionRequest", "Endpoint",
    "EndpointUnreachable", "GenerationReport", "LLMClient", "MalformedAnswer", "PreflightError", "open_client",
    "open_endpoint", "preflight", "retry_after_s",
]

# The Router's name for the model group the endpoints form, and for their fallbacks.
_GROUP, _FALLBACK_GROUP = "drafts", "drafts-fallback"

STATUS_OK, STATUS_FAILED, STATUS_SKIPPED_BUDGET = "ok", "failed", "skipped_budget"


# A chat template wraps each message in a few tokens of its own (role markers, separators).
_MESSAGE_OVERHEAD_TOKENS = 16


# --- the client -------------------------------------------------------------------------------------


class LLMClient:
    """Sends requests through litellm (its Router when several endpoints are configured), at most
    `in_flight` at a time, answering from the cache first and stopping when a budget says so."""

    def __init__(
        self,
        settings: ModelSettings,
        endpoint: Endpoint | None = None,
        *,
        cache: ResponseCache | None = None,
        ledger: SpendLedger | None = None,
        run_scope: str | None = None,
        batch_store: BatchStore | None = None,
    ):
        self.settings = settings
        self.batch_store = batch_store  # mode: batch, where submitted batches are remembered
        self.in_flight = settings.in_flight  # workers; with `auto` the limiter keeps fewer calls in flight
        self.limiter = limiter_for(settings)
        self.cache = cache if cache is not None else NoCache()
        self.ledger = ledger
        self.run_scope = run_scope
        self.model_calls = 0  # every HTTP attempt this client made
        self._endpoint = endpoint
        self._router: Any = None
        self._stack = ExitStack()
        self._identity = settings.answer_identity()
        self._secrets = secret_values()
        self._hard_timeout_s = settings.timeout_s * 1.5 + 1  # in case a call ignores its own timeout
        self._unpriced: set[str] = set()
        self._cache_writer: ThreadPoolExecutor | None = None
        # What budgets reserve per call (see _worst_case), learnt from the answers.
        self._tokens_per_char = 0.5
        self._observed_tokens_per_char = 0.0
        self._dearest_call_usd = 0.0
        self._longest_completion = 0

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()  # stops the embedded server, if this client started it

    @property
    def endpoint(self) -> Endpoint:
        """Where calls go; the embedded server starts on first use, so a run served from the cache never starts it."""
        if self._endpoint is None:
            if self.settings.is_embedded:
                register_embedded_price()
                api_base = self._stack.enter_context(serve_embedded(self.settings.embedded))
                self._endpoint = Endpoint(model=f"openai/{SERVED_NAME}", api_base=api_base, api_key=NO_KEY, embedded=True)
            else:
                endpoints, fallbacks = resolve_endpoints(self.settings)
                self._endpoint = endpoints[0]
                if self.settings.uses_router:
                    self._router = self._build_router(endpoints, fallbacks)
        return self._endpoint

    def _build_router(self, endpoints: list[Endpoint], fallbacks: list[Endpoint]) -> Any:
        def deployment(group: str, e: Endpoint) -> dict[str, Any]:
            params: dict[str, Any] = {"model": e.model, "timeout": self.settings.timeout_s, "max_retries": 0}
            if e.api_base:
                params["api_base"] = e.api_base
            if e.api_key_env:
                params["api_key"] = f"os.environ/{e.api_key_env}"  # litellm reads it; no copy of the key here
            if e.rpm:
                params["rpm"] = e.rpm
            params["weight"] = e.weight
            return {"model_name": group, "litellm_params": params}

        model_list = [deployment(_GROUP, e) for e in endpoints] + [deployment(_FALLBACK_GROUP, e) for e in fallbacks]
        return load_litellm().Router(
            model_list=model_list,
            fallbacks=[{_GROUP: [_FALLBACK_GROUP]}] if fallbacks else [],
            num_retries=0,  # retries are ours, so they are counted and honour Retry-After
            timeout=self.settings.timeout_s,
            enable_weighted_failover=len(endpoints) > 1,  # a failed call tries another replica before giving up
            routing_strategy="simple-shuffle",
        )

    # one request --------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _describe(self, exc: Exception, attempts: int) -> str:
        status = status_of(exc)
        text = f"{type(exc).__name__}{f' (HTTP {status})' if status else ''} after {attempts} attempt{'s' * (attempts > 1)}: {exc}"
        text = self._redact(" ".join(text.split()))
        return text if len(text) <= 500 else text[:497] + "..."

    def _retry_wait(self, exc: Exception, attempt: int) -> float:
        asked = retry_after_s(exc)
        if asked is not None:
            return min(asked, self.settings.max_retry_wait_s)
        backoff = self.settings.retry_backoff_s * 2 ** (attempt - 1)
        return min(backoff, self.settings.max_retry_wait_s) * (0.5 + random.random())  # jitter spreads retries

    async def _acompletion(self, request: CompletionRequest) -> Any:
        extra: dict[str, Any] = self.settings.generation_params()
        if request.response_format is not None:
            extra["response_format"] = request.response_format
        if self._router is not None:
            return await self._router.acompletion(model=_GROUP, messages=list(request.messages), **extra)
        endpoint = self.endpoint
        return await load_litellm().acompletion(
            model=endpoint.model,
            messages=list(request.messages),
            api_base=endpoint.api_base,
            api_key=endpoint.api_key,
            timeout=self.settings.timeout_s,
            num_retries=0,  # retries are ours, so attempts are counted
            max_retries=0,
            **extra,
        )

    def _cost(self, response: Any) -> float:
        if self.endpoint.embedded:
            return 0.0
        hidden = getattr(response, "_hidden_params", None) or {}
        if hidden.get("response_cost") is not None:
            return float(hidden["response_cost"])
        model = str(getattr(response, "model", ""))
        if model in self._unpriced:
            return 0.0
        try:
            return float(load_litellm().completion_cost(completion_response=response) or 0.0)
        except Exception:  # noqa: BLE001 - a model without a known price costs what we cannot know
            self._unpriced.add(model)
            return 0.0

    async def _call(self, request: CompletionRequest, cache_key_: str) -> Completion:
        attempts = 0
        started = time.perf_counter()
        while True:
            attempts += 1
            self.model_calls += 1
            try:
                async with self.limiter.slot() as outcome:
                    try:
                        async with asyncio.timeout(self._hard_timeout_s):
                            response = await self._acompletion(request)
                    except Exception as exc:
                        if overloaded(exc):
                            outcome.overload(retry_after_s(exc))
                        raise
                try:
                    choice = response.choices[0]
                    text = (choice.message.content or "").strip()
                except (AttributeError, IndexError, TypeError) as exc:
                    raise MalformedAnswer(f"the answer has no message: {exc}") from None
                break
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the draft
                if attempts <= self.settings.max_retries and (isinstance(exc, MalformedAnswer) or transient(exc)):
                    await asyncio.sleep(self._retry_wait(exc, attempts))
                    continue
                return Completion(key=request.key, text=None, status=STATUS_FAILED, error=self._describe(exc, attempts),
                                  attempts=attempts, latency_s=time.perf_counter() - started)
        latency = time.perf_counter() - started
        usage = getattr(response, "usage", None)
        done = Completion(
            key=request.key,
            text=text,
            status=STATUS_OK,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(response),
            latency_s=latency,
            attempts=attempts,
            finish_reason=choice.finish_reason,
        )
        if not text:
            done.status, done.error, done.text = STATUS_FAILED, "empty completion", None
            return done
        if request.response_format is not None:
            try:
                done.parsed = parse_answer(text, request.response_format)
            except UnparseableAnswer as exc:
                # Not cached: a sampled model may answer well next time. The raw text stays for inspection.
                done.status, done.error = STATUS_FAILED, self._redact(str(exc))[:500]
                return done
        hidden = getattr(response, "_hidden_params", None) or {}
        answer = CachedAnswer(
            text=text, prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
            cost_usd=done.cost_usd, latency_s=round(latency, 4), finish_reason=done.finish_reason,
            answered_by=hidden.get("api_base") if self._router is not None else None,
        )
        # Durable before the draft counts as done: a run killed after this never pays for it again. The write
        # runs on the cache's own thread so the event loop keeps the other requests moving meanwhile.
        await asyncio.get_running_loop().run_in_executor(self._cache_writer, self.cache.put, cache_key_, answer)
        return done

    # many requests ------------------------------------------------------------------------------

    def _worst_case(self, request: CompletionRequest) -> tuple[float, float]:
        """The most one call can spend, in USD and tokens: its prompt plus `max_tokens` (or the longest
        answer so far, from a server that ignores it). Prompt tokens are counted from its characters at the
        highest tokens-per-character any answer has shown so far (a generous guess before the first), plus
        a chat template's overhead per message."""
        chars = sum(len(m.get("content") or "") for m in request.messages)
        prompt = int(chars * self._tokens_per_char) + _MESSAGE_OVERHEAD_TOKENS * len(request.messages)
        completion = max(self.settings.max_tokens, self._longest_completion)  # a server may ignore max_tokens
        tokens = prompt + completion
        if self.settings.is_embedded:
            return 0.0, tokens
        try:
            usd = float(sum(load_litellm().cost_per_token(model=self.settings.model, prompt_tokens=prompt,
                                                      completion_tokens=completion)))
        except Exception:  # noqa: BLE001 - an unpriced model: the dearest answer so far stands in
            usd = 0.0
        return max(usd, self._dearest_call_usd), tokens

    def _learn_from(self, request: CompletionRequest, completion: Completion) -> None:
        chars = sum(len(m.get("content") or "") for m in request.messages)
        if chars and completion.prompt_tokens:
            self._tokens_per_char = max(self._observed_tokens_per_char, completion.prompt_tokens / chars) * 1.1
            self._observed_tokens_per_char = max(self._observed_tokens_per_char, completion.prompt_tokens / chars)
        self._dearest_call_usd = max(self._dearest_call_usd, completion.paid_usd)
        self._longest_completion = max(self._longest_completion, completion.completion_tokens)

    def _budget(self) -> Budget:
        budget = self.settings.budget
        if budget.run.is_set and (self.ledger is None or not self.run_scope):
            # A run budget needs the run's shared ledger; without one only the partition budget applies.
            budget = BudgetSettings(partition=budget.partition)
        return Budget(budget, self.ledger, self.run_scope)

    async def complete_many(
        self, requests: Sequence[CompletionRequest], on_done: Callable[[Completion], None] | None = None
    ) -> GenerationReport:
        started = time.perf_counter()
        calls_before = self.model_calls
        results: list[Completion | None] = [None] * len(requests)
        keys = [cache_key(self._identity, r.messages, r.response_format) for r in requests]

        def finish(index: int, completion: Completion) -> None:
            results[index] = completion
            if on_done:
                on_done(completion)

        leaders, followers = self._answer_from_cache(requests, keys, finish)
        queue = deque(leaders.values())
        budget = self._budget()
        if queue and self.settings.mode == "batch":
            await self._run_batches(requests, keys, queue, followers, budget, finish)
        elif queue:
            await run_online(self, requests, keys, queue, followers, budget, finish)
        made = sum(1 for c in results if c is not None)
        if stop_requested() and made < len(requests):
            raise Interrupted(f"stopped after {made} of {len(requests)} answers (kept in the response cache); "
                              f"{len(requests) - made} not requested")

        for index in queue:  # not started: a budget stopped generation
            for i in (index, *followers.get(keys[index], ())):
                finish(i, Completion(key=requests[i].key, text=None, status=STATUS_SKIPPED_BUDGET,
                                     error=f"{budget.stop_reason}; not requested, a re-run with a larger budget makes it"))

        completions = [c for c in results if c is not None]
        return GenerationReport(
            completions=completions,
            model_calls=self.model_calls - calls_before,
            cache_hits=sum(1 for c in completions if c.cache_hit),
            spent_usd=budget.partition.usd,
            spent_tokens=budget.partition.tokens,
            budget_stop=budget.stop_reason if queue else None,
            wall_s=time.perf_counter() - started,
        )

    async def _run_batches(self, requests, keys, queue: deque[int], followers, budget: Budget, finish) -> None:
        def settle(index: int, completion: Completion) -> None:
            if completion.paid_tokens or completion.paid_usd:
                budget.record(completion.paid_usd, completion.paid_tokens)
            finish(index, completion)
            for other in followers.get(keys[index], ()):
                finish(other, replace(completion, key=requests[other].key, attempts=0, cache_hit=completion.status == STATUS_OK))

        if self.batch_store is None:
            self.batch_store = BatchStore(":memory:")  # remembered by this client only
            self._stack.callback(self.batch_store.shutdown)
        self.batches = BatchRunner(self, self.batch_store, requests, keys, budget, settle)
        await self.batches.run(queue)

    def _answer_from_cache(
        self, requests: Sequence[CompletionRequest], keys: list[str], finish: Callable[[int, Completion], None]
    ) -> tuple[dict[str, int], dict[str, list[int]]]:
        """Cached answers first: they are free, whatever the budget. The rest: one call per distinct cache
        key (its leader), identical requests (its followers) sharing its answer."""
        cached = self.cache.get_many(keys)
        leaders: dict[str, int] = {}
        followers: dict[str, list[int]] = {}
        for i, (request, key) in enumerate(zip(requests, keys)):
            hit = cached.get(key)
            if hit is not None:
                finish(i, _from_cache(request, hit))
            elif key in leaders:
                followers.setdefault(key, []).append(i)
            else:
                leaders[key] = i
        return leaders, followers

    def complete_all(
        self, requests: Sequence[CompletionRequest], on_done: Callable[[Completion], None] | None = None
    ) -> GenerationReport:
        return asyncio.run(self.complete_many(requests, on_done))


async def _until_stopped(work: asyncio.Future) -> None:
    """Awaits `work`; if a stop is asked for first, cancels the requests in flight (nothing new starts)."""
    stop = asyncio.ensure_future(wait_for_stop())
    try:
        await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
    else:
        work.result()


def _from_cache(request: CompletionRequest, hit: CachedAnswer) -> Completion:
    # Only answers that parsed were stored, so a stored answer parses again.
    parsed = parse_answer(hit.text, request.response_format) if request.response_format else None
    return Completion(
        key=request.key, text=hit.text, status=STATUS_OK, prompt_tokens=hit.prompt_tokens,
        completion_tokens=hit.completion_tokens, cost_usd=hit.cost_usd, latency_s=hit.latency_s,
        attempts=0, cache_hit=True, finish_reason=hit.finish_reason, parsed=parsed,
    )


@contextmanager
def open_client(settings: ModelSettings, cache_path: str | Path, spend_path: str | Path,
                run_scope: str | None = None) -> Iterator[LLMClient]:
    """A client with the configured cache and spend ledger, after preflight. Nothing is generated here."""
    preflight(settings)
    with ExitStack() as stack:
        cache = open_cache(settings.cache, cache_path)
        stack.callback(cache.close)
        ledger: SpendLedger | None = None
        if settings.budget.run.is_set:
            if settings.cache.backend == "redis":
                ledger = RedisLedger(redis_url(settings.cache), settings.cache.namespace)
            else:
                ledger = DiskLedger(spend_path)
            stack.callback(ledger.close)
        store = None
        if settings.mode == "batch":  # batch ids beside the spend ledger, so a re-run resumes them
            store = BatchStore(Path(spend_path).with_name("llm_batches.sqlite"))
            stack.callback(store.shutdown)
        client = stack.enter_context(LLMClient(settings, cache=cache, ledger=ledger, run_scope=run_scope, batch_store=store))
        yield client
