"""configs/model.yaml: the model, its endpoint, generation parameters, cache and budgets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cosmo_assets.config.base import StrictModel


class EmbeddedModelSettings(StrictModel):
    n_parallel: int = Field(default=8, ge=1)
    n_threads: int = Field(default=2, ge=1)
    context_per_slot: int = Field(default=2048, ge=256)
    repeat_penalty: float = Field(default=1.1, ge=1.0)


class EndpointSettings(StrictModel):
    """One deployment for litellm's Router. The key is named by its environment variable, never written here."""

    model: str | None = Field(default=None, description="litellm model string; default: the top-level model.")
    api_base: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    weight: float = Field(default=1.0, gt=0)
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute this deployment accepts.")


class CacheSettings(StrictModel):
    backend: Literal["disk", "redis", "off"] = "disk"
    path: str | None = Field(default=None, description="disk: SQLite file; default llm_cache.sqlite beside the DuckDB file.")
    redis_url_env: str = Field(default="COSMO_REDIS_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    namespace: str = "cosmo-llm"


class BudgetLimits(StrictModel):
    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1, description="Prompt plus completion tokens of paid calls.")

    @property
    def is_set(self) -> bool:
        return self.max_usd is not None or self.max_tokens is not None


class BudgetSettings(StrictModel):
    run: BudgetLimits = BudgetLimits()
    partition: BudgetLimits = BudgetLimits()


class AdaptiveSettings(StrictModel):
    """Bounds for `max_in_flight: auto` (see cosmo_assets/llm/concurrency.py)."""

    min_in_flight: int = Field(default=1, ge=1)
    max_in_flight: int = Field(default=64, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveSettings:
        if self.min_in_flight > self.max_in_flight:
            raise ValueError(f"min_in_flight {self.min_in_flight} is above max_in_flight {self.max_in_flight}")
        return self


class BatchSettings(StrictModel):
    """`mode: batch`: requests go through the provider's batch API (cosmo_assets/llm/batch.py)."""

    completion_window: Literal["24h"] = "24h"
    poll_s: float = Field(default=10.0, gt=0, description="First wait between status checks; doubled up to max_poll_s.")
    max_poll_s: float = Field(default=300.0, gt=0)
    max_wait_s: float = Field(default=86400.0, gt=0, description="Stop waiting after this; a re-run picks the batch up.")
    max_requests: int = Field(default=50000, ge=1, description="Requests per batch file (OpenAI accepts 50,000).")


class PriceSettings(StrictModel):
    """USD per million tokens, for a model litellm has no price for (self-hosted, new). Batch calls pay half
    unless litellm knows the model's batch price."""

    input_usd_per_mtok: float = Field(ge=0)
    output_usd_per_mtok: float = Field(ge=0)


class ModelSettings(StrictModel):
    model: str = "embedded/smollm2-135m-instruct"
    api_base: str | None = None
    endpoints: list[EndpointSettings] = Field(
        default_factory=list, description="Several deployments of the model: litellm's Router balances across them."
    )
    fallbacks: list[EndpointSettings] = Field(
        default_factory=list, description="Deployments tried when the endpoints fail (each needs its model)."
    )
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_in_flight: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        default=None, description="Requests in flight; 'auto' adapts within `adaptive`; default: slots (embedded) or 16."
    )
    adaptive: AdaptiveSettings = AdaptiveSettings()
    mode: Literal["online", "batch"] = Field(default="online", description="batch: the provider's batch API, cheaper, slower.")
    batch: BatchSettings = BatchSettings()
    price: PriceSettings | None = None
    timeout_s: float = Field(default=300, gt=0)
    max_retries: int = Field(default=4, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0, description="First wait before a retry; doubled each time.")
    max_retry_wait_s: float = Field(default=60.0, ge=0, description="Longest wait between tries, Retry-After included.")
    max_failed_share: float = Field(default=0.2, ge=0, le=1)
    system_prompt: str = "You are a knowledgeable writer of clear, accurate educational text."
    continue_truncated: bool = Field(
        default=True, description="A draft that stopped at max_tokens gets one request to finish it; the joined text is filtered."
    )
    cache: CacheSettings = CacheSettings()
    budget: BudgetSettings = BudgetSettings()
    embedded: EmbeddedModelSettings = EmbeddedModelSettings()

    @model_validator(mode="after")
    def _checks(self) -> ModelSettings:
        if self.is_embedded and (self.endpoints or self.fallbacks):
            raise ValueError("endpoints and fallbacks need a remote model; the embedded model runs in this process")
        for i, fallback in enumerate(self.fallbacks):
            if not fallback.model:
                raise ValueError(f"fallbacks.{i}.model: expected a litellm model string")
        if self.mode == "batch" and (self.is_embedded or self.uses_router):
            raise ValueError("mode: batch needs one remote model with a batch API (not the embedded model, "
                             "not several endpoints or fallbacks)")
        return self

    @property
    def is_embedded(self) -> bool:
        return self.model.startswith("embedded/")

    @property
    def uses_router(self) -> bool:
        return len(self.endpoints) > 1 or bool(self.fallbacks)

    @property
    def adaptive_in_flight(self) -> bool:
        return self.max_in_flight == "auto"

    @property
    def in_flight(self) -> int:
        """The most requests in flight at once (with `auto`, the upper bound the limit adapts under)."""
        if self.max_in_flight == "auto":
            return self.adaptive.max_in_flight
        if self.max_in_flight:
            return self.max_in_flight
        return self.embedded.n_parallel if self.is_embedded else 16

    def generation_params(self) -> dict[str, Any]:
        """The parameters that change a completion: part of every draft id."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}

    def answer_identity(self) -> dict[str, Any]:
        """What decides a model's answer besides the messages: the model and every parameter that changes it.
        The response cache is keyed on this, so which replica answered does not matter."""
        identity: dict[str, Any] = {"model": self.model, **self.generation_params()}
        if self.is_embedded:
            identity["repeat_penalty"] = self.embedded.repeat_penalty
        return identity
