"""The bill before the first token: what drafting some partitions will ask of the model, priced, timed and
checked against the budgets, without calling the model.

Per partition: the requests to make, those the response cache already answers (free), prompt tokens
(scaled from the rendered prompts' characters by what the model reported for earlier prompts, else
counted with the model's tokenizer where litellm has one, else litellm's default), completion
tokens (the mean answer of earlier drafts of this model and content type, else of this model, else
`max_tokens` x COMPLETION_SHARE_OF_MAX), the price (configs/model.yaml `price`, else litellm's cost
map; batch mode at the batch price), wall time (earlier drafts' mean latency per request at the
configured concurrency, else DEFAULT_TOKENS_PER_S per request) and the first budget that would stop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Without history, an answer is expected to use this share of max_tokens: instruction-tuned models asked for
# an article of a few hundred words mostly stop on their own before the limit.
COMPLETION_SHARE_OF_MAX = 0.6
# Without history, tokens per second one request is expected to stream at (remote), or the embedded model
# makes in all (measured on a 2-core machine, see configs/model.yaml embedded).
DEFAULT_TOKENS_PER_S = {"remote": 50.0, "embedded": 80.0}


@dataclass(frozen=True)
class History:
    """What earlier drafts of this model showed: tokens per prompt character, answer length per content
    type, seconds per request. Empty for a model never run here."""

    prompt_tokens_per_char: float | None = None
    prompt_tokens: float | None = None  # mean per prompt, when the prompts themselves are gone
    completion_tokens: dict[str, float] = field(default_factory=dict)  # by content type; "*" for all
    latency_s: float | None = None  # mean seconds per paid request
    drafts: int = 0


@dataclass
class PartitionForecast:
    partition: str
    outlines: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None  # None: the model has no known price
    wall_s: float
    budget_stop: str | None = None

    @property
    def to_draft(self) -> int:
        return self.outlines - self.cached

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Forecast:
    model: str
    mode: str
    in_flight: str
    basis: list[str]  # where the figures come from, in words
    partitions: list[PartitionForecast]
    budget_stop: str | None = None  # the run budget, across partitions

    def total(self) -> PartitionForecast:
        usd = [p.usd for p in self.partitions]
        return PartitionForecast(
            partition="total", outlines=sum(p.outlines for p in self.partitions), cached=sum(p.cached for p in self.partitions),
            prompt_tokens=sum(p.prompt_tokens for p in self.partitions),
            completion_tokens=sum(p.completion_tokens for p in self.partitions),
            usd=None if any(u is None for u in usd) else sum(u for u in usd if u is not None),
            wall_s=sum(p.wall_s for p in self.partitions), budget_stop=self.budget_stop,
        )

    def metadata(self) -> dict[str, Any]:
        total = self.total()
        return {
            "model": self.model, "mode": self.mode, "in_flight": self.in_flight,
            "outlines": total.outlines, "cached": total.cached, "to_draft": total.to_draft,
            "prompt_tokens": total.prompt_tokens, "completion_tokens": total.completion_tokens,
            "usd": round(total.usd, 6) if total.usd is not None else "unknown price",
            "wall_s": round(total.wall_s, 1), "budget_stop": self.budget_stop or "none",
            "basis": self.basis,
            "partitions": [{**asdict(p), "to_draft": p.to_draft} for p in self.partitions],
        }

    def table(self) -> str:
        """The forecast as `python -m cosmo_assets plan` prints it."""
        rows = [*self.partitions, self.total()] if len(self.partitions) > 1 else list(self.partitions)
        width = max([len(p.partition) for p in rows] + [9])
        lines = [f"generation plan: {self.model}, mode {self.mode}, {self.in_flight} in flight (no model call made)",
                 f"{'partition':<{width}}  {'outlines':>8}  {'cached':>6}  {'to draft':>8}  {'prompt tok':>10}  "
                 f"{'compl. tok':>10}  {'USD':>9}  {'wall':>8}  budget"]
        for p in rows:
            usd = f"{p.usd:9.4f}" if p.usd is not None else f"{'n/a':>9}"
            lines.append(f"{p.partition:<{width}}  {p.outlines:>8}  {p.cached:>6}  {p.to_draft:>8}  {p.prompt_tokens:>10,}  "
                         f"{p.completion_tokens:>10,}  {usd}  {_duration(p.wall_s):>8}  {p.budget_stop or 'fits'}")
        lines += [f"  {line}" for line in self.basis]
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- pieces ---------------------------------------------------------------------------------------


def prices(settings) -> tuple[float, float] | None:
    """USD per prompt token and per completion token, at the batch price in batch mode; None when unknown."""
    if settings.is_embedded:
        return 0.0, 0.0
    if settings.price is not None:
        per_in, per_out = settings.price.input_usd_per_mtok / 1e6, settings.price.output_usd_per_mtok / 1e6
        return (per_in / 2, per_out / 2) if settings.mode == "batch" else (per_in, per_out)
    from cosmo_assets.llm.litellm_setup import load_litellm

    litellm = load_litellm()
    try:
        if settings.mode == "batch":
            from litellm.cost_calculator import batch_cost_calculator

            usd_in, usd_out = batch_cost_calculator(litellm.Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000),
                                                    model=settings.model)
        else:
            usd_in, usd_out = litellm.cost_per_token(model=settings.model, prompt_tokens=1_000_000, completion_tokens=1_000_000)
    except Exception:  # noqa: BLE001 - litellm raises several kinds for a model without a price
        return None
    if not usd_in and not usd_out:
        return None  # litellm knows no price: unknown, not free
    return usd_in / 1e6, usd_out / 1e6


def count_prompt_tokens(settings, messages: Sequence[dict[str, str]], history: History) -> int:
    """Tokens of one prompt: scaled from its characters when the model has reported earlier prompts (that
    is what it will bill), else counted with litellm's tokenizer for the model (its default for others)."""
    chars = sum(len(m.get("content") or "") for m in messages)
    if history.prompt_tokens_per_char:
        return round(chars * history.prompt_tokens_per_char)
    if history.prompt_tokens:
        return round(history.prompt_tokens)
    from cosmo_assets.llm.litellm_setup import load_litellm

    model = "openai/gpt-4o-mini" if settings.is_embedded else settings.model  # any: litellm's default tokenizer
    return int(load_litellm().token_counter(model=model, messages=list(messages)))


def expected_completion(settings, content_type: str, history: History) -> float:
    by_type = history.completion_tokens
    if content_type in by_type:
        return by_type[content_type]
    if "*" in by_type:
        return by_type["*"]
    return settings.max_tokens * COMPLETION_SHARE_OF_MAX


def expected_wall_s(settings, requests: int, completion_tokens: float, history: History) -> float:
    if requests == 0:
        return 0.0
    if settings.is_embedded and history.latency_s is None:
        return completion_tokens / DEFAULT_TOKENS_PER_S["embedded"]
    per_request = history.latency_s or (completion_tokens / requests) / DEFAULT_TOKENS_PER_S["remote"]
    in_flight = settings.adaptive.max_in_flight if settings.adaptive_in_flight else settings.in_flight
    waves = -(-requests // max(1, min(in_flight, requests)))
    return waves * per_request


def budget_stop(limits, spent_usd: float, spent_tokens: int, calls: Sequence[tuple[float, int]], name: str) -> tuple[int | None, str | None]:
    """How many of `calls` (expected USD and tokens each) fit under `limits` after what is `spent`, and the
    limit that stops the rest, in words; (None, None) when all fit."""
    usd, tokens = spent_usd, spent_tokens
    for i, (call_usd, call_tokens) in enumerate(calls):
        usd, tokens = usd + call_usd, tokens + call_tokens
        if limits.max_usd is not None and usd > limits.max_usd:
            return i, f"{name} max_usd {limits.max_usd:g}"
        if limits.max_tokens is not None and tokens > limits.max_tokens:
            return i, f"{name} max_tokens {limits.max_tokens:,}"
    return None, None
