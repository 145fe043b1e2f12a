"""Stage 3, drafts: the model expands each outline's prompt into an article draft."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cosmo_assets.config import ModelSettings
from cosmo_assets.ids import stable_id
from cosmo_assets.llm.client import Completion, CompletionRequest
from cosmo_assets.storage import frame_schema


def draft_id(outline: dict, settings: ModelSettings) -> str:
    # The same prompt to the same model with the same parameters is the same draft.
    return stable_id("draft", outline["outline_id"], outline["prompt_hash"], settings.model, settings.generation_params())


def draft_requests(outlines: pl.DataFrame, settings: ModelSettings) -> list[CompletionRequest]:
    requests = []
    for outline in outlines.iter_rows(named=True):
        messages = (
            {"role": "system", "content": settings.system_prompt},
            {"role": "user", "content": outline["prompt"]},
        )
        requests.append(CompletionRequest(key=draft_id(outline, settings), messages=messages))
    return requests


def draft_rows(outlines: pl.DataFrame, completions: Sequence[Completion], settings: ModelSettings) -> pl.DataFrame:
    by_key = {c.key: c for c in completions}
    rows = []
    for outline in outlines.iter_rows(named=True):
        key = draft_id(outline, settings)
        c = by_key[key]
        rows.append(
            {
                "draft_id": key,
                "outline_id": outline["outline_id"],
                "seed_id": outline["seed_id"],
                "domain": outline["domain"],
                "language": outline["language"],
                "model": settings.model,
                "text": c.text,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "cost_usd": c.cost_usd,
                "latency_s": round(c.latency_s, 4),
                "attempts": c.attempts,
                "status": c.status,
                "error": c.error,
                "cache_hit": c.cache_hit,
                "finish_reason": c.finish_reason,
            }
        )
    return pl.DataFrame(rows, schema=frame_schema("drafts"))
