"""Stage 4b, rephrased articles: kept articles rewritten in other formats (question-and-answer, encyclopedic,
tutorial, dialogue, simplified) through templates/rephrase/, each judged by the filter gates against the seed
facts of the article it rewrites (facts kept, no new claims) and naming it in `derived_from`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from cosmo_assets.config import CosmoConfig, FilterSettings
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.llm.client import Completion, CompletionRequest
from cosmo_assets.stages.filtering import filter_drafts
from cosmo_assets.stages.outlines import TemplateLibrary
from cosmo_assets.storage import frame_schema

TEMPLATE_DIR = "rephrase"


def template_of(fmt: str) -> str:
    return f"{TEMPLATE_DIR}/{fmt}.j2"


@dataclass(frozen=True)
class Rephrasing:
    """One rewrite asked for: the kept article, the format, the prompt, and the request's key (its id)."""

    article: dict
    format: str
    template_version: str
    prompt: str
    instruction: str  # the prompt without the article: what a draft must not echo
    request: CompletionRequest


def formats_for(article_id: str, formats: Sequence[str], per_article: int, salt: object) -> list[str]:
    """`per_article` formats for one article, spread over the formats by a hash of its id (stable across runs)."""
    ranked = sorted(formats, key=lambda f: content_hash(salt, article_id, f))
    return ranked[:per_article]


def rephrasings(config: CosmoConfig, articles: pl.DataFrame, outlines: pl.DataFrame) -> list[Rephrasing]:
    """The rewrites of a partition's kept articles (none when balance.yaml rephrased.share is 0)."""
    settings = config.balance.rephrased
    if settings.share == 0 or articles.height == 0:
        return []
    library = TemplateLibrary(config.root / "templates")
    model = config.model
    titles = dict(outlines.select("outline_id", "title").iter_rows())
    out = []
    for article in articles.sort("draft_id").iter_rows(named=True):
        for fmt in formats_for(article["draft_id"], settings.formats, settings.per_article, config.project.run.random_seed):
            template = template_of(fmt)
            values = {"lang": article["language"], "title": titles.get(article["outline_id"], "")}
            prompt = library.render(template, text=article["text"], **values)
            version = library.version(template)
            key = stable_id("rephrase", article["draft_id"], fmt, version, prompt, model.model, model.generation_params())
            messages = ({"role": "system", "content": model.system_prompt}, {"role": "user", "content": prompt})
            out.append(Rephrasing(article, fmt, version, prompt, library.render(template, text="", **values),
                                  CompletionRequest(key=key, messages=messages)))
    return out


def judge_rephrasings(
    config: CosmoConfig, asked: Sequence[Rephrasing], completions: Sequence[Completion], outlines: pl.DataFrame,
    settings: FilterSettings, language: str,
) -> pl.DataFrame:
    """Every rewrite with its verdict: the same gates as a draft, against the source article's seed facts and
    title; no section plan (a Q&A has none of the article's headings) and no shape but the format's own, if any."""
    by_key = {c.key: c for c in completions}
    drafts = pl.DataFrame(
        [{"draft_id": r.request.key, "outline_id": r.request.key, "seed_id": r.article["seed_id"], "domain": r.article["domain"],
          "language": language, "model": config.model.model, "text": by_key[r.request.key].text,
          "status": by_key[r.request.key].status, "finish_reason": by_key[r.request.key].finish_reason} for r in asked],
        schema={k: frame_schema("drafts")[k] for k in
                ("draft_id", "outline_id", "seed_id", "domain", "language", "model", "text", "status", "finish_reason")},
    )
    source = outlines.filter(pl.col("outline_id").is_in([r.article["outline_id"] for r in asked]))
    plan = {o["outline_id"]: o for o in source.iter_rows(named=True)}
    rows = [{**plan[r.article["outline_id"]], "outline_id": r.request.key, "content_type": r.format, "sections": [],
             "prompt": r.instruction} for r in asked]
    judged_outlines = pl.DataFrame(rows, schema=source.schema) if rows else source.clear()
    answered = drafts.filter(pl.col("status") == "ok")
    outcome = filter_drafts(answered, settings.model_copy(update={"min_section_coverage": 0.0}), language, judged_outlines)
    verdicts = {r["draft_id"]: (r, True) for r in outcome.kept.iter_rows(named=True)}
    verdicts |= {r["draft_id"]: (r, False) for r in outcome.rejected.iter_rows(named=True)}
    return pl.DataFrame([_row(config, r, by_key[r.request.key], verdicts.get(r.request.key)) for r in asked],
                        schema=frame_schema("rephrased_articles"))


def _row(config: CosmoConfig, r: Rephrasing, c: Completion, verdict: tuple[dict, bool] | None) -> dict:
    scores, kept = verdict if verdict else ({}, False)
    return {
        "rephrase_id": r.request.key, "derived_from": r.article["draft_id"], "outline_id": r.article["outline_id"],
        "seed_id": r.article["seed_id"], "domain": r.article["domain"], "language": r.article["language"],
        "format": r.format, "template_id": template_of(r.format), "template_version": r.template_version,
        "model": config.model.model, "text": scores.get("text", c.text), "status": c.status, "finish_reason": c.finish_reason,
        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd,
        "fact_coverage": scores.get("fact_coverage"), "unsupported_claims": scores.get("unsupported_claims"),
        "quality_score": scores.get("quality_score"), "kept": kept,
        "reject_reasons": scores.get("reject_reasons") or ([] if kept else [f"not answered: {c.status}"]),
    }
