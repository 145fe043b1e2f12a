"""Stage 3, drafts: the model expands each outline's prompt into an article draft."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from cosmo_assets.config import ModelSettings
from cosmo_assets.filters.chatter import clean
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


# What the model is asked when a draft stopped at max_tokens, in the partition's language.
CONTINUE = {
    "en": "Continue the text exactly where it stopped, without repeating anything, and bring it to an end within "
          "three sentences. Write only the continuation.",
    "fr": "Poursuis le texte exactement là où il s'est arrêté, sans rien répéter, et termine-le en trois phrases au "
          "plus. N'écris que la suite.",
    "es": "Continúa el texto exactamente donde se detuvo, sin repetir nada, y termínalo en tres frases como máximo. "
          "Escribe solo la continuación.",
    "de": "Setze den Text genau dort fort, wo er aufgehört hat, ohne etwas zu wiederholen, und beende ihn in höchstens "
          "drei Sätzen. Schreibe nur die Fortsetzung.",
}


def continuation_requests(
    outlines: pl.DataFrame, completions: Sequence[Completion], settings: ModelSettings
) -> list[CompletionRequest]:
    """One request per draft that stopped at max_tokens: the conversation so far, then "continue"."""
    by_key = {c.key: c for c in completions}
    requests = []
    for outline in outlines.iter_rows(named=True):
        key = draft_id(outline, settings)
        c = by_key.get(key)
        if c is None or c.status != "ok" or c.finish_reason != "length" or not c.text:
            continue
        messages = (
            {"role": "system", "content": settings.system_prompt},
            {"role": "user", "content": outline["prompt"]},
            {"role": "assistant", "content": c.text},
            {"role": "user", "content": CONTINUE.get(outline["language"], CONTINUE["en"])},
        )
        requests.append(CompletionRequest(key=stable_id("continue", key), messages=messages))
    return requests


def join_continuations(
    completions: Sequence[Completion], continuations: Sequence[Completion], language: str = "en"
) -> tuple[list[Completion], set[str]]:
    """Each draft with its continuation appended (tokens, cost and latency added; the finish reason is the
    continuation's), and the keys of the drafts continued. A failed continuation leaves the draft as it was."""
    by_key = {c.key: c for c in continuations}
    joined, continued = [], set()
    for c in completions:
        more = by_key.get(stable_id("continue", c.key))
        if more is None or more.status != "ok" or not (more.text or "").strip():
            joined.append(c)
            continue
        tail, _ = clean(more.text, language)  # "Sure, here is the rest:" is no part of the article
        tail = tail.strip()
        glue = "" if c.text.endswith((" ", "\n")) or tail[:1] in ",.;:!?)" else " "
        joined.append(replace(
            c, text=c.text + glue + tail, prompt_tokens=c.prompt_tokens + more.prompt_tokens,
            completion_tokens=c.completion_tokens + more.completion_tokens, cost_usd=c.cost_usd + more.cost_usd,
            latency_s=c.latency_s + more.latency_s, attempts=c.attempts + more.attempts,
            finish_reason=more.finish_reason,
        ))
        continued.add(c.key)
    return joined, continued


def draft_rows(
    outlines: pl.DataFrame, completions: Sequence[Completion], settings: ModelSettings, continued: set[str] = frozenset()
) -> pl.DataFrame:
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
                "continued": key in continued,
            }
        )
    return pl.DataFrame(rows, schema=frame_schema("drafts"))
