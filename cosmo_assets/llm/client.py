"""The one LLM client: litellm calls with a bound on requests in flight, retries, a response cache, budgets
and per-call accounting.

It knows nothing of Dagster; stages hand it requests and get one Completion back per request, in order,
whether the call succeeded, failed, or was not made because a budget stopped generation. Answers found
in the cache cost nothing and start no model: a warm re-run neither loads litellm nor the embedded server.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cosmo_assets.config import BudgetSettings, EndpointSettings, ModelSettings
from cosmo_assets.interruption import Interrupted, stop_requested, wait_for_stop
from cosmo_assets.llm.budget import Budget, DiskLedger, RedisLedger, SpendLedger
from cosmo_assets.llm.cache import CachedAnswer, NoCache, ResponseCache, cache_key, open_cache, redis_url
from cosmo_assets.llm.embedded import SERVED_NAME, serve_embedded, weights_path
from cosmo_assets.llm.structured import UnparseableAnswer, parse_answer

# Placeholder key for servers that need none (the embedded model); not a secret.
_NO_KEY = "no-key-needed"

# Environment variables whose values are secrets: removed from every error message we keep.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|REDIS_URL", re.IGNORECASE)

# The Router's name for the model group the endpoints form, and for their fallbacks.
_GROUP, _FALLBACK_GROUP = "drafts", "drafts-fallback"

# Providers speaking the OpenAI API, whose servers list their models at {base}/models.
_OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_like", "custom_openai", "lm_studio", "llamafile", "vllm"}
_DEFAULT_BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}

# HTTP statuses worth another try: timeouts, conflicts, rate limits, server errors.
_TRANSIENT_STATUS = {408, 409, 425, 429}

STATUS_OK, STATUS_FAILED, STATUS_SKIPPED_BUDGET = "ok", "failed", "skipped_budget"


class PreflightError(RuntimeError):
    """The configured model cannot be used: wrong name, unreachable base URL or missing key."""


class MalformedAnswer(RuntimeError):
    """A server answered 200 with a body that is not a chat completion; retried like a server error."""


class EndpointUnreachable(PreflightError):
    """No server answered at an endpoint's base URL."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: a litellm model string, and a base URL and key when the model needs them."""

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, never stored
    api_key_env: str | None = None  # the variable it came from, to name in messages
    embedded: bool = False
    weight: float = 1.0
    rpm: int | None = None


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


# --- endpoints and preflight ---------------------------------------------------------------------


def _litellm():
    import litellm  # imported lazily: it takes seconds, and the Dagster definitions must load fast

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # litellm logs every call at INFO; where the root logger is at INFO that costs CPU on each request.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


def _register_embedded_price() -> None:
    # The embedded model costs nothing; saying so spares litellm a search of its price list on every call.
    _litellm().register_model({f"openai/{SERVED_NAME}": {
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "chat",
        "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0,
    }})


def _endpoint(item: EndpointSettings, settings: ModelSettings, where: str) -> Endpoint:
    model = item.model or settings.model
    api_base = item.api_base or (settings.api_base if model == settings.model else None)
    key_env = item.api_key_env or ("COSMO_LLM_API_KEY" if os.environ.get("COSMO_LLM_API_KEY") else None)
    if item.api_key_env and not os.environ.get(item.api_key_env):
        raise PreflightError(f"missing key: configs/model.yaml {where}.api_key_env names {item.api_key_env}, "
                             "which is not set in the environment")
    return Endpoint(model=model, api_base=api_base, api_key=os.environ.get(key_env) if key_env else None,
                    api_key_env=key_env, weight=item.weight, rpm=item.rpm)


def resolve_endpoints(settings: ModelSettings) -> tuple[list[Endpoint], list[Endpoint]]:
    """The deployments serving the model, and those to fall back on. Without `endpoints` in
    configs/model.yaml the model and api_base themselves are the one deployment."""
    items = settings.endpoints or [EndpointSettings()]
    endpoints = [_endpoint(item, settings, f"endpoints.{i}") for i, item in enumerate(items)]
    fallbacks = [_endpoint(item, settings, f"fallbacks.{i}") for i, item in enumerate(settings.fallbacks)]
    return endpoints, fallbacks


def _key_names(missing: list[str]) -> list[str]:
    return [name for name in missing if _SECRET_NAME.search(name)]


def _check_endpoint(endpoint: Endpoint, timeout_s: float) -> None:
    litellm = _litellm()
    try:
        served, provider, _, _ = litellm.get_llm_provider(endpoint.model)
    except Exception:  # noqa: BLE001 - litellm raises several kinds for an unknown model string
        raise PreflightError(
            f"wrong model name: litellm does not know the model {endpoint.model!r} or its provider; expected a litellm "
            "model string such as 'openai/gpt-4o-mini' or 'hosted_vllm/<served name>' "
            "(configs/model.yaml model, or COSMO_LLM_MODEL)"
        ) from None
    key = endpoint.api_key
    if key is None:
        env = litellm.validate_environment(model=endpoint.model, api_base=endpoint.api_base)
        missing = _key_names(env.get("missing_keys") or [])
        if missing:
            raise PreflightError(
                f"missing key for {endpoint.model}: set {' or '.join(missing)} or COSMO_LLM_API_KEY in the environment "
                "(keys are read from the environment only)"
            )
        key = os.environ.get(f"{provider.upper()}_API_KEY")
    base = endpoint.api_base or _DEFAULT_BASES.get(provider)
    if base is None:
        return  # a provider without a base URL to ask: its first call will tell
    _check_listing(base.rstrip("/"), provider, served, key, endpoint, timeout_s)


def _check_listing(base: str, provider: str, served: str, key: str | None, endpoint: Endpoint, timeout_s: float) -> None:
    """Reach the server and, where it lists its models, check it serves ours. Costs no tokens."""
    import httpx

    headers, url, field_name = {}, f"{base}/models", "id"
    if provider == "anthropic":
        headers = {"x-api-key": key or "", "anthropic-version": "2023-06-01"}
    elif provider == "ollama":
        url, field_name = f"{base}/api/tags", "name"
    elif key:
        headers = {"Authorization": f"Bearer {key}"}
    try:
        response = httpx.get(url, headers=headers, timeout=min(timeout_s, 15.0))
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(
            f"model endpoint unreachable: {base} ({type(exc).__name__}); check api_base in configs/model.yaml "
            "or COSMO_LLM_API_BASE, and that the server is running"
        ) from None
    if response.status_code in (401, 403):
        named = endpoint.api_key_env or f"{provider.upper()}_API_KEY"
        raise PreflightError(f"the key was refused by {base} (HTTP {response.status_code}): check {named}")
    if response.status_code != 200 or (provider not in _OPENAI_COMPATIBLE and provider not in ("anthropic", "ollama")):
        return  # reachable; this server does not say which models it serves
    try:
        body = response.json()
        listed = body.get("data") if "data" in body else body.get("models")
        names = [str(m.get(field_name)) for m in listed or [] if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return
    accepted = {served, f"{served}:latest"} if provider == "ollama" else {served}
    if names and not accepted & set(names):
        shown = ", ".join(sorted(names)[:20]) + (" ..." if len(names) > 20 else "")
        raise PreflightError(
            f"wrong model name: {base} does not serve {served!r} (from {endpoint.model!r}); it serves: {shown}. "
            "Fix configs/model.yaml model or COSMO_LLM_MODEL"
        )


def preflight(settings: ModelSettings) -> None:
    """Fail fast, before any partition work, when the model cannot be used: a wrong model name, an
    unreachable base URL or a missing key. Asks each server for its model list; sends no prompt."""
    if settings.is_embedded:
        weights_path()  # the embedded server itself starts only when a request misses the cache
        return
    endpoints, fallbacks = resolve_endpoints(settings)
    # A wrong name or a missing key anywhere is a configuration error. A replica that is down is not, while
    # another serves: working around it is the Router's job. A fallback that is down is only a lost fallback.
    unreachable = []
    for endpoint in endpoints:
        try:
            _check_endpoint(endpoint, settings.timeout_s)
        except EndpointUnreachable as exc:
            unreachable.append(exc)
    if len(unreachable) == len(endpoints):
        raise unreachable[0]
    for endpoint in fallbacks:
        try:
            _check_endpoint(endpoint, settings.timeout_s)
        except EndpointUnreachable:
            pass


@contextmanager
def open_endpoint(settings: ModelSettings) -> Iterator[Endpoint]:
    """The first configured endpoint after preflight; for the embedded model, its server, started here."""
    preflight(settings)
    if settings.is_embedded:
        with serve_embedded(settings.embedded) as api_base:
            yield Endpoint(model=f"openai/{SERVED_NAME}", api_base=api_base, api_key=_NO_KEY, embedded=True)
        return
    yield resolve_endpoints(settings)[0][0]


# --- errors and retries ---------------------------------------------------------------------------


def _secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 6}
    return sorted(values, key=len, reverse=True)


def _status_of(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _transient(exc: Exception) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    litellm = _litellm()
    permanent = (litellm.BadRequestError, litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)
    if isinstance(exc, permanent):
        return False
    transient = (
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return True
    status = _status_of(exc)
    return status is not None and (status in _TRANSIENT_STATUS or status >= 500)


def retry_after_s(exc: Exception) -> float | None:
    """The wait a server asked for (Retry-After in seconds or as a date, or retry-after-ms), if any."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        try:
            headers = getattr(getattr(exc, "response", None), "headers", None)
        except Exception:  # noqa: BLE001 - some exceptions raise when a response is absent
            headers = None
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


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
    ):
        self.settings = settings
        self.in_flight = settings.in_flight
        self.cache = cache if cache is not None else NoCache()
        self.ledger = ledger
        self.run_scope = run_scope
        self.model_calls = 0  # every HTTP attempt this client made
        self._endpoint = endpoint
        self._router: Any = None
        self._stack = ExitStack()
        self._identity = settings.answer_identity()
        self._secrets = _secret_values()
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
                _register_embedded_price()
                api_base = self._stack.enter_context(serve_embedded(self.settings.embedded))
                self._endpoint = Endpoint(model=f"openai/{SERVED_NAME}", api_base=api_base, api_key=_NO_KEY, embedded=True)
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
        return _litellm().Router(
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
        status = _status_of(exc)
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
        return await _litellm().acompletion(
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
            return float(_litellm().completion_cost(completion_response=response) or 0.0)
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
                async with asyncio.timeout(self._hard_timeout_s):
                    response = await self._acompletion(request)
                try:
                    choice = response.choices[0]
                    text = (choice.message.content or "").strip()
                except (AttributeError, IndexError, TypeError) as exc:
                    raise MalformedAnswer(f"the answer has no message: {exc}") from None
                break
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the draft
                if attempts <= self.settings.max_retries and (isinstance(exc, MalformedAnswer) or _transient(exc)):
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
            usd = float(sum(_litellm().cost_per_token(model=self.settings.model, prompt_tokens=prompt,
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
        report = GenerationReport(completions=[])
        results: list[Completion | None] = [None] * len(requests)
        keys = [cache_key(self._identity, r.messages, r.response_format) for r in requests]

        def finish(index: int, completion: Completion) -> None:
            results[index] = completion
            if on_done:
                on_done(completion)

        # Cached answers first: they are free, whatever the budget.
        cached = self.cache.get_many(keys)
        leaders: dict[str, int] = {}  # one call per distinct cache key; identical requests share its answer
        followers: dict[str, list[int]] = {}
        for i, (request, key) in enumerate(zip(requests, keys)):
            hit = cached.get(key)
            if hit is not None:
                finish(i, _from_cache(request, hit))
            elif key in leaders:
                followers.setdefault(key, []).append(i)
            else:
                leaders[key] = i

        queue = deque(leaders.values())
        budget = self._budget()
        if queue:
            # One writer thread: SQLite takes one write at a time anyway, and the loop never waits on a disk.
            self._cache_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cosmo-cache-writer")
            _ = self.endpoint  # start the embedded server or build the router now, not inside a worker
            reserved: dict[int, tuple[float, float]] = {}  # calls in flight -> the most each can spend
            answered = asyncio.Condition()
            answers = 0

            async def worker() -> None:
                nonlocal answers
                while queue and budget.stop_reason is None and not stop_requested():
                    index = queue[0]
                    if budget.is_set:
                        need = self._worst_case(requests[index])
                        blocked = budget.blocks(sum(u for u, _ in reserved.values()), sum(t for _, t in reserved.values()), *need)
                        if blocked:
                            if not reserved:
                                budget.stop(blocked)
                                break
                            seen = answers
                            async with answered:  # an answer frees its reservation and shows its real spend
                                await answered.wait_for(lambda: answers != seen)  # noqa: B023 - awaited in this iteration
                            continue
                        reserved[index] = need
                    queue.popleft()
                    try:
                        completion = await self._call(requests[index], keys[index])
                    finally:
                        reserved.pop(index, None)
                    if completion.paid_tokens or completion.paid_usd:
                        budget.record(completion.paid_usd, completion.paid_tokens)
                        self._learn_from(requests[index], completion)
                    finish(index, completion)
                    for other in followers.get(keys[index], ()):
                        shared = completion.status == STATUS_OK
                        finish(other, replace(completion, key=requests[other].key, attempts=0, cache_hit=shared))
                    if budget.is_set:  # only budgets wait for answers
                        answers += 1
                        async with answered:
                            answered.notify_all()

            try:
                await _until_stopped(asyncio.gather(*(worker() for _ in range(min(self.in_flight, len(queue))))))
            finally:
                self._cache_writer.shutdown(wait=True)  # answers received are in the cache before this returns
        made = sum(1 for c in results if c is not None)
        if stop_requested() and made < len(requests):
            raise Interrupted(f"stopped after {made} of {len(requests)} answers (kept in the response cache); "
                              f"{len(requests) - made} not requested")

        for index in queue:  # not started: a budget stopped generation
            for i in (index, *followers.get(keys[index], ())):
                finish(i, Completion(key=requests[i].key, text=None, status=STATUS_SKIPPED_BUDGET,
                                     error=f"{budget.stop_reason}; not requested, a re-run with a larger budget makes it"))

        report.completions = [c for c in results if c is not None]
        report.model_calls = self.model_calls - calls_before
        report.cache_hits = sum(1 for c in report.completions if c.cache_hit)
        report.spent_usd = budget.partition.usd
        report.spent_tokens = budget.partition.tokens
        report.budget_stop = budget.stop_reason if queue else None
        report.wall_s = time.perf_counter() - started
        return report

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
        client = stack.enter_context(LLMClient(settings, cache=cache, ledger=ledger, run_scope=run_scope))
        yield client
