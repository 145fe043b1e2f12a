"""An article against its own plan: which outline sections it covers (sections.py), whether its shape fits
its content type, which seed facts it states and contradicts and which of its claims no fact supports
(claims.py), and how much of the prompt's instructions it repeats (echo.py).
"""

from __future__ import annotations

import re

import polars as pl

from cosmo_assets.config import FilterSettings, ShapeRule
from cosmo_assets.filters import claims, echo, sections

# A list line: "1.", "2)", "Step 3", "-", "*", "•", also inside markdown emphasis or a heading ("**1. Origins**").
_NUMBERED = re.compile(r"^\s*(?:[#*_>]+\s*)?(?:\d+[.):]|step\s+\d+|[-*•]\s)", re.I)
_SPEECH = re.compile(r"[\"“”«»„]")
_QUESTION = re.compile(r"\?(?:[\"'”’»)*_]*)(?:\s|$)")


def shape_measures(text: str) -> dict[str, float]:
    text = text or ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) <= 1:
        paragraphs = [p for p in text.split("\n") if p.strip()]
    lines = [line for line in text.split("\n") if line.strip()]
    listed = sum(1 for line in lines if _NUMBERED.match(line))
    return {
        "paragraphs": len(paragraphs),
        "numbered_lines": listed,
        "list_line_share": listed / len(lines) if lines else 0.0,
        "speech_marks": len(_SPEECH.findall(text)),
        "questions": len(_QUESTION.findall(text)),
    }


def shape_fits(text: str, rule: ShapeRule | None) -> bool:
    if rule is None:
        return True
    m = shape_measures(text)
    return (
        m["paragraphs"] >= max(rule.min_paragraphs, rule.min_posts)
        and m["numbered_lines"] >= rule.min_numbered_lines
        and m["list_line_share"] <= rule.max_list_line_share
        and m["speech_marks"] >= rule.min_speech_marks
        and m["questions"] >= rule.min_questions
    )


ALIGNMENT_SCHEMA = {
    "section_coverage": pl.Float64,
    "shape_fits": pl.Boolean,
    "fact_coverage": pl.Float64,
    "contradicted_facts": pl.List(pl.String),
    "unsupported_claims": pl.Float64,
    "unsupported_items": pl.List(pl.String),
    "prompt_echo_share": pl.Float64,
}
_EMPTY = {"section_coverage": None, "fact_coverage": None, "contradicted_facts": [], "unsupported_claims": None,
          "unsupported_items": [], "prompt_echo_share": None}


def _judged(text: str, plan: dict, settings: FilterSettings, language: str) -> dict:
    facts = plan.get("facts") or plan.get("required_facts") or []
    required = plan.get("required_facts") or []
    report = claims.check(
        text, facts, required, plan.get("title") or "", plan.get("description") or "", language,
        settings.character_mentions, settings.name_weight,
    )
    instructions = echo.instruction_text(plan.get("prompt") or "", plan.get("title") or "", plan.get("description") or "")
    return {
        "section_coverage": sections.coverage(plan.get("sections") or [], text),
        "shape_fits": shape_fits(text, settings.shapes.get(plan.get("content_type"))),
        "fact_coverage": report.fact_coverage,
        "contradicted_facts": report.contradicted,
        "unsupported_claims": report.unsupported_share,
        "unsupported_items": report.unsupported,
        "prompt_echo_share": echo.echo_share(text, instructions, settings.prompt_echo_ngram_words) if instructions else None,
    }


def align(drafts: pl.DataFrame, outlines: pl.DataFrame | None, settings: FilterSettings, language: str = "en") -> pl.DataFrame:
    """Per draft (in order): section and fact coverage, shape, contradicted facts, unsupported claims and
    prompt echo, judged against the draft's outline (and its seed's facts and description when the outline
    frame carries them). Null where the draft has no outline: nothing to judge."""
    plans: dict[str, dict] = {}
    if outlines is not None and outlines.height:
        for row in outlines.iter_rows(named=True):
            plans[row["outline_id"]] = row
    rows = []
    for outline_id, text in zip(drafts["outline_id"].to_list(), drafts["text"].to_list()):
        plan = plans.get(outline_id)
        if plan is None or not text:
            rows.append({**_EMPTY, "shape_fits": None if plan is None else False})
            continue
        rows.append(_judged(text, plan, settings, language))
    return pl.DataFrame(rows, schema=ALIGNMENT_SCHEMA)
