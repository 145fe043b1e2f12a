"""Where requests go: endpoints from configs/model.yaml, and the preflight that checks each answers
before partition work starts (model name, base URL, key)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cosmo_assets.config import EndpointSettings, ModelSettings
from cosmo_assets.llm.embedded import SERVED_NAME, serve_embedded, weights_path
from cosmo_assets.llm.errors import SECRET_NAME
from cosmo_assets.llm.litellm_setup import load_litellm

# Placeholder key for servers that need none (the embedded model); not a secret.
NO_KEY = "no-key-needed"

# Providers speaking the OpenAI API, whose servers list their models at {base}/models.
_OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_like", "custom_openai", "lm_studio", "llamafile", "vllm"}
_DEFAULT_BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}

class PreflightError(RuntimeError):
    """The configured model cannot be used: wrong name, unreachable base URL or missing key."""


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


def register_embedded_price() -> None:
    # The embedded model costs nothing; saying so spares litellm a search of its price list on every call.
    load_litellm().register_model({f"openai/{SERVED_NAME}": {
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
    return [name for name in missing if SECRET_NAME.search(name)]


def _check_endpoint(endpoint: Endpoint, timeout_s: float) -> None:
    litellm = load_litellm()
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
            yield Endpoint(model=f"openai/{SERVED_NAME}", api_base=api_base, api_key=NO_KEY, embedded=True)
        return
    yield resolve_endpoints(settings)[0][0]
