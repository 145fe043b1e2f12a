"""An optional model judge that checks claims: the configured model lists the article's factual claims and
marks each supported, contradicted or unverifiable against the seed's facts, and scores the article for
clarity, accuracy and educational value (1 to 5). The answer is JSON following JUDGE_SCHEMA, asked for
through the one LLM client (`response_format`), which checks it against the schema.

This module only builds the requests and reads the answers, so it runs without a model in tests. An
answer that does not follow the schema leaves the columns empty: a judge that could not judge is no
reason to drop an article. Meant for capable instruction-following models (a hosted GPT-4o-class model,
Llama-3.1-70B or Qwen2.5-32B-Instruct and up on vLLM); a 135M model cannot check claims.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import polars as pl

from cosmo_assets.config import JudgeSettings
from cosmo_assets.ids import stable_id
from cosmo_assets.llm.client import Completion, CompletionRequest
from cosmo_assets.llm.structured import json_schema_format

CRITERIA = ("clarity", "accuracy", "educational_value")
VERDICTS = ("supported", "contradicted", "unverifiable")
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"claim": {"type": "string"}, "verdict": {"type": "string", "enum": list(VERDICTS)}},
                "required": ["claim", "verdict"],
                "additionalProperties": False,
            },
        },
        **{c: {"type": "integer", "minimum": 1, "maximum": 5} for c in CRITERIA},
    },
    "required": ["claims", *CRITERIA],
    "additionalProperties": False,
}
JUDGE_COLUMNS = {**{f"judge_{c}": pl.Int32 for c in CRITERIA}, **{f"judge_{v}": pl.Int32 for v in VERDICTS}}

_SYSTEM = "You are a strict fact checker and reviewer of educational texts. You answer with one JSON object and nothing else."
_FORMAT = json_schema_format("claim_check", JUDGE_SCHEMA)


def _facts_block(facts) -> str:
    return "\n".join(f"- {f['property']}: {f['value']}" for f in (facts or [])) or "- (none)"


def judge_requests(drafts: pl.DataFrame, settings: JudgeSettings) -> list[CompletionRequest]:
    """One request per draft (needs draft_id, title, text; facts and description when known)."""
    requests = []
    facts = drafts["facts"].to_list() if "facts" in drafts.columns else [None] * drafts.height
    descriptions = drafts["description"].to_list() if "description" in drafts.columns else [None] * drafts.height
    for (draft_id, title, text), fact_list, description in zip(
        drafts.select("draft_id", "title", "text").iter_rows(), facts, descriptions
    ):
        prompt = (
            f"Check the article below about \"{title}\" against the known facts.\n"
            f"Known facts{f' ({description})' if description else ''}:\n{_facts_block(fact_list)}\n\n"
            "List every factual claim the article makes (dates, numbers, names, events, causes). Mark each "
            "\"supported\" when the known facts state it, \"contradicted\" when they state something else, and "
            "\"unverifiable\" when they say nothing about it. Then rate the article from 1 (poor) to 5 "
            "(excellent) for clarity, accuracy and educational value. Answer with JSON matching this schema:\n"
            f"{json.dumps(JUDGE_SCHEMA)}\n\nArticle:\n{(text or '')[: settings.max_article_chars]}"
        )
        messages = ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt})
        requests.append(CompletionRequest(key=stable_id("judge", draft_id, prompt), messages=messages, response_format=_FORMAT))
    return requests


def read_judgement(answer: dict | None) -> dict[str, int] | None:
    """Scores and verdict counts from a parsed answer, or None when it is not a judgement."""
    if not isinstance(answer, dict):
        return None
    scores = {c: answer.get(c) for c in CRITERIA}
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in scores.values()):
        return None
    claims = answer.get("claims")
    if not isinstance(claims, list):
        return None
    verdicts = [c.get("verdict") for c in claims if isinstance(c, dict)]
    return {**scores, **{v: verdicts.count(v) for v in VERDICTS}}


def judge_drafts(
    drafts: pl.DataFrame,
    settings: JudgeSettings,
    complete: Callable[[Sequence[CompletionRequest]], Sequence[Completion]],
) -> pl.DataFrame:
    """Per draft (in order): judge_clarity, judge_accuracy, judge_educational_value and the number of claims
    judged supported, contradicted and unverifiable (null when unjudged)."""
    if drafts.height == 0:
        return pl.DataFrame(schema=JUDGE_COLUMNS)
    completions: list[Completion] = list(complete(judge_requests(drafts, settings)))
    read = [read_judgement(c.parsed if c.status == "ok" else None) for c in completions]
    names = list(CRITERIA) + list(VERDICTS)
    return pl.DataFrame({f"judge_{n}": [r[n] if r else None for r in read] for n in names}, schema=JUDGE_COLUMNS)
