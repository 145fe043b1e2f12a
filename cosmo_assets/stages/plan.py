"""The generation plan: for chosen partitions, the outlines a run would draft and what drafting them will
cost (cosmo_assets/llm/forecast.py), from the configs, the response cache and earlier drafts; no model call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cosmo_assets.config import CosmoConfig, ModelSettings
from cosmo_assets.llm.cache import cache_key, open_cache
from cosmo_assets.llm.forecast import (
    Forecast,
    History,
    PartitionForecast,
    budget_stop,
    count_prompt_tokens,
    expected_completion,
    expected_wall_s,
    prices,
)
from cosmo_assets.stages.drafts import draft_requests
from cosmo_assets.storage import Storage


def draft_history(storage: Storage, settings: ModelSettings) -> History:
    """What earlier drafts of this model reported, from the drafts table, and by content type where their
    outlines are still there (a re-planned partition replaces its outlines before it is drafted)."""
    if not Path(storage.path).exists():
        return History()
    params = {"model": settings.model, "system_chars": len(settings.system_prompt)}
    try:
        drafts = storage.query(
            "SELECT prompt_tokens, completion_tokens, latency_s, cache_hit FROM drafts "
            "WHERE model = $model AND status = 'ok' AND completion_tokens > 0", {"model": settings.model})
        joined = storage.query(
            """
            SELECT o.content_type, d.prompt_tokens, d.completion_tokens, length(o.prompt) + $system_chars AS chars
            FROM drafts d JOIN outlines o USING (outline_id, domain, language)
            WHERE d.model = $model AND d.status = 'ok' AND d.completion_tokens > 0
            """, params)
    except Exception:  # noqa: BLE001 - no drafts table yet: a project never run
        return History()
    if drafts.height == 0:
        return History()
    by_type = dict(joined.group_by("content_type").agg(pl.col("completion_tokens").mean()).iter_rows()) if joined.height else {}
    paid = drafts.filter(~pl.col("cache_hit"))
    chars = int(joined["chars"].sum() or 0) if joined.height else 0
    return History(
        prompt_tokens_per_char=float(joined["prompt_tokens"].sum()) / chars if chars else None,
        prompt_tokens=float(drafts["prompt_tokens"].mean()),
        completion_tokens={**by_type, "*": float(drafts["completion_tokens"].mean())},
        latency_s=float(paid["latency_s"].mean()) if paid.height else None,
        drafts=drafts.height,
    )


def cached_keys(config: CosmoConfig, keys: Sequence[str]) -> set[str]:
    settings = config.model
    if settings.cache.backend == "disk" and not config.llm_cache_path().exists():
        return set()  # no cache yet; do not create one just to look
    cache = open_cache(settings.cache, config.llm_cache_path())
    try:
        return set(cache.get_many(keys))
    finally:
        cache.close()


def forecast_partition(config: CosmoConfig, partition: str, outlines: pl.DataFrame, history: History,
                       ) -> tuple[PartitionForecast, list[tuple[float, int]]]:
    """The partition's figures, and the expected (USD, tokens) of each request still to make."""
    settings = config.model
    requests = draft_requests(outlines, settings)
    identity = settings.answer_identity()
    keys = [cache_key(identity, r.messages, r.response_format) for r in requests]
    hits = cached_keys(config, keys)
    price = prices(settings) if len(hits) < len(keys) else (0.0, 0.0)  # litellm loads only when there is a bill
    calls: list[tuple[float, int]] = []
    prompt_total = completion_total = 0.0
    content_types = outlines["content_type"].to_list() if "content_type" in outlines.columns else [""] * len(requests)
    for request, key, content_type in zip(requests, keys, content_types):
        if key in hits:
            continue
        prompt = count_prompt_tokens(settings, request.messages, history)
        completion = expected_completion(settings, content_type, history)
        prompt_total, completion_total = prompt_total + prompt, completion_total + completion
        usd = prompt * price[0] + completion * price[1] if price else 0.0
        calls.append((usd, round(prompt + completion)))
    usd_total = sum(u for u, _ in calls) if price else None
    figures = PartitionForecast(
        partition=partition, outlines=len(requests), cached=len(requests) - len(calls),
        prompt_tokens=round(prompt_total), completion_tokens=round(completion_total), usd=usd_total,
        wall_s=expected_wall_s(settings, len(calls), completion_total, history),
    )
    done, limit = budget_stop(settings.budget.partition, 0.0, 0, calls, "partition budget")
    if limit:
        figures.budget_stop = f"{limit} stops it after {done} of {len(calls)} drafts"
    return figures, calls


def outlines_for(config: CosmoConfig, domain: str, language: str, seed_limit: int | None, storage: Storage) -> pl.DataFrame:
    """The outlines a run would make for the partition, made here in memory (model-proposed outlines keep
    their structural plan: no model call)."""
    from cosmo_assets.llm.client import STATUS_SKIPPED_BUDGET, Completion
    from cosmo_assets.stages.outlines import plan_outlines
    from cosmo_assets.stages.review import excluded_templates
    from cosmo_assets.stages.seeds import read_seeds

    def no_model(requests):
        return [Completion(key=r.key, text=None, status=STATUS_SKIPPED_BUDGET, error="forecast: no model call") for r in requests]

    seeds = read_seeds(config, domain, language, seed_limit).seeds
    excluded = excluded_templates(config, storage) if Path(storage.path).exists() else set()
    return plan_outlines(config, seeds, complete=no_model, excluded_templates=excluded).outlines


def plan_generation(config: CosmoConfig, partitions: Sequence[tuple[str, str]], seed_limit: int | None) -> Forecast:
    """The forecast for drafting `partitions` ((domain, language) pairs) at `seed_limit` seeds each."""
    settings = config.model
    storage = Storage(config.duckdb_path())
    history = draft_history(storage, settings)
    results, run_calls = [], []
    for domain, language in partitions:
        outlines = outlines_for(config, domain, language, seed_limit, storage)
        figures, calls = forecast_partition(config, f"{domain}|{language}", outlines, history)
        results.append(figures)
        run_calls.append((figures.partition, calls))
    forecast = Forecast(model=settings.model, mode=settings.mode, in_flight=str(settings.max_in_flight or settings.in_flight),
                        basis=basis(settings, history), partitions=results)
    flat = [(name, c) for name, calls in run_calls for c in calls]
    done, limit = budget_stop(settings.budget.run, 0.0, 0, [c for _, c in flat], "run budget")
    if limit:
        forecast.budget_stop = f"{limit} stops the run in {flat[done][0]}, after {done} of {len(flat)} drafts"
    return forecast


def basis(settings: ModelSettings, history: History) -> list[str]:
    from cosmo_assets.llm.forecast import COMPLETION_SHARE_OF_MAX

    if history.drafts:
        tokens = f"tokens from {history.drafts} earlier drafts of this model (answer length by content type)"
    else:
        tokens = (f"no earlier drafts of this model: prompts counted with litellm's tokenizer, answers expected at "
                  f"{COMPLETION_SHARE_OF_MAX:g} x max_tokens ({settings.max_tokens})")
    price = prices(settings)
    priced = ("configs/model.yaml price" if settings.price else "litellm's cost map") if price else "no known price"
    if settings.is_embedded:
        priced = "the embedded model is free"
    if settings.mode == "batch":
        priced += ", at the batch price; wall time is the provider's (within its 24h window)"
    timing = "wall time from earlier drafts' latency" if history.latency_s else "wall time from a default speed"
    return [tokens, priced, timing]


def forecast_against_actual(forecast: Forecast, storage: Storage) -> list[str]:
    """After a run: each partition's forecast beside what its drafts actually took (calls paid in the run)."""
    actual = storage.query(
        """
        SELECT domain || '|' || language AS partition,
               sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cache_hit) AS tokens,
               sum(cost_usd) FILTER (WHERE NOT cache_hit) AS usd, count(*) FILTER (WHERE NOT cache_hit) AS paid
        FROM drafts GROUP BY ALL
        """,
        table="drafts",  # a run stopped before any drafts step leaves no table: nothing was paid
    )
    by_partition = {row[0]: row[1:] for row in actual.iter_rows()}
    lines = []
    for p in [*forecast.partitions, forecast.total()]:
        if p.partition == "total":
            rows = [by_partition.get(q.partition, (0, 0.0, 0)) for q in forecast.partitions]
            tokens, usd, paid = (sum(r[i] or 0 for r in rows) for i in range(3))
        else:
            tokens, usd, paid = (v or 0 for v in by_partition.get(p.partition, (0, 0.0, 0)))
        off = f" ({(tokens - p.tokens) / p.tokens:+.0%})" if p.tokens else ""
        usd_text = f"${p.usd:.4f} forecast, ${usd:.4f} actual" if p.usd is not None else f"${usd:.4f} actual"
        lines.append(f"[{p.partition}] drafts paid {paid} (forecast {p.to_draft}); tokens {tokens:,} against "
                     f"{p.tokens:,} forecast{off}; {usd_text}")
    return lines


def partition_forecast(config: CosmoConfig, storage: Storage, partition: str, outlines: pl.DataFrame) -> PartitionForecast:
    """One partition's forecast, for the drafts asset to show beside what it then took."""
    return forecast_partition(config, partition, outlines, draft_history(storage, config.model))[0]
