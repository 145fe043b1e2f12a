"""An optional model judge: the configured model scores each article for clarity, accuracy and
educational value (1 to 5), answering in JSON that must match JUDGE_SCHEMA.

The calls go through the one LLM client; this module only builds the requests and reads the answers,
so it runs without a model in tests. An answer that does not parse leaves the scores empty: a judge
that could not judge is no reason to drop an article.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

import polars as pl

from cosmo_assets.config import JudgeSettings
from cosmo_assets.ids import stable_id
from cosmo_assets.llm.client import Completion, CompletionRequest

CRITERIA = ("clarity", "accuracy", "educational_value")
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {c: {"type": "integer", "minimum": 1, "maximum": 5} for c in CRITERIA},
    "required": list(CRITERIA),
    "additionalProperties": False,
}
JUDGE_COLUMNS = {f"judge_{c}": pl.Int32 for c in CRITERIA}

_SYSTEM = "You are a strict reviewer of educational texts. You answer with one JSON object and nothing else."
_OBJECT = re.compile(r"\{.*?\}", re.S)


def judge_requests(drafts: pl.DataFrame, settings: JudgeSettings) -> list[CompletionRequest]:
    requests = []
    for draft_id, title, text in drafts.select("draft_id", "title", "text").iter_rows():
        prompt = (
            f"Rate the article below about \"{title}\" from 1 (poor) to 5 (excellent) for clarity, factual "
            "accuracy and educational value. Answer with JSON matching this schema:\n"
            f"{json.dumps(JUDGE_SCHEMA)}\n\nArticle:\n{(text or '')[: settings.max_article_chars]}"
        )
        messages = ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt})
        requests.append(CompletionRequest(key=stable_id("judge", draft_id), messages=messages))
    return requests


def parse_judgement(answer: str | None) -> dict[str, int] | None:
    """The scores in a model's answer, or None when it holds no JSON object with every score from 1 to 5."""
    for candidate in _OBJECT.findall(answer or ""):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        scores = {c: data.get(c) for c in CRITERIA}
        if all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in scores.values()):
            return scores
    return None


def judge_drafts(
    drafts: pl.DataFrame,
    settings: JudgeSettings,
    complete: Callable[[Sequence[CompletionRequest]], list[Completion]],
) -> pl.DataFrame:
    """Per draft (in order): judge_clarity, judge_accuracy, judge_educational_value (null when unjudged)."""
    if drafts.height == 0:
        return pl.DataFrame(schema=JUDGE_COLUMNS)
    completions = complete(judge_requests(drafts, settings))
    parsed = [parse_judgement(c.text if c.status == "ok" else None) for c in completions]
    return pl.DataFrame(
        {f"judge_{c}": [p[c] if p else None for p in parsed] for c in CRITERIA}, schema=JUDGE_COLUMNS
    )
