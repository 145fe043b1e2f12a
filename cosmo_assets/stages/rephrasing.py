"""Stage 4b, rephrased articles: kept articles and real-text documents rewritten in other formats (question-and-
answer, encyclopedic, tutorial, dialogue, simplified) through templates/rephrase/, each judged by the filter gates
against its source (an article's seed facts; a document's own names and figures) and naming it in `derived_from`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from cosmo_assets.config import CosmoConfig, FilterSettings
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.knowledge_base.documents import document_grounds
from cosmo_assets.llm.client import Completion, CompletionRequest
from cosmo_assets.stages.filtering import filter_drafts
from cosmo_assets.stages.outlines import TemplateLibrary
from cosmo_assets.storage import frame_schema

TEMPLATE_DIR = "rephrase"
DOCUMENT_SOURCE = "documents"  # the seeds' `source` of document seeds


def plan_schema() -> dict[str, pl.DataType]:
    """What a rewrite is held to, as the gates read an outline: facts kept (`required_facts`), no claim beyond
    `facts`, `description` and `title`, typed as the outlines table types them. Built when first needed: the
    table's types come from DuckDB, which costs a third of a second to start every process importing this."""
    facts = frame_schema("outlines")["required_facts"]
    return {"outline_id": pl.String, "title": pl.String, "facts": facts, "required_facts": facts,
            "description": pl.String, "prompt": pl.String, "sections": pl.List(pl.String), "content_type": pl.String}


def template_of(fmt: str) -> str:
    return f"{TEMPLATE_DIR}/{fmt}.j2"


@dataclass(frozen=True)
class Source:
    """A text to rewrite and what a rewrite of it is held to: a kept article ('article'), a real text of the
    real_text corpora ('real_text') or a document seed ('document')."""

    kind: str
    source_id: str  # derived_from
    domain: str
    language: str
    title: str
    text: str
    grounds: dict  # facts, required_facts, description
    seed_id: str | None = None
    outline_id: str | None = None
    topic_type: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class Rephrasing:
    """One rewrite asked for: the source, the format, the prompt, and the request's key (its id)."""

    source: Source
    format: str
    template_version: str
    prompt: str
    instruction: str  # the prompt without the source text: what a rewrite must not echo
    request: CompletionRequest


def formats_for(source_id: str, formats: Sequence[str], per_article: int, salt: object) -> list[str]:
    """`per_article` formats for one source, spread over the formats by a hash of its id (stable across runs)."""
    ranked = sorted(formats, key=lambda f: content_hash(salt, source_id, f))
    return ranked[:per_article]


def article_sources(articles: pl.DataFrame, outlines: pl.DataFrame) -> list[Source]:
    """Kept articles, each held to its outline's seed facts and title (outlines joined with_seed_facts)."""
    plans = {o["outline_id"]: o for o in outlines.iter_rows(named=True)}
    out = []
    for a in articles.sort("draft_id").iter_rows(named=True):
        plan = plans.get(a["outline_id"], {})
        out.append(Source("article", a["draft_id"], a["domain"], a["language"], plan.get("title") or "", a["text"],
                          {k: plan.get(k) for k in ("facts", "required_facts", "description")},
                          a["seed_id"], a["outline_id"]))
    return out


def real_text_sources(config: CosmoConfig, real_text: pl.DataFrame, domain: str) -> list[Source]:
    """The real texts of `domain`: each rewrite quotes the text's extract (seeds.yaml documents extract_chars)
    and is held to its names and figures, as a document seed is."""
    out = []
    for r in real_text.filter(pl.col("domain") == domain).sort("id").iter_rows(named=True):
        piece, facts = document_grounds(r["text"], config.seeds.documents)
        out.append(Source("real_text", r["id"], domain, r["language"], r["title"], piece,
                          {"facts": facts, "required_facts": facts, "description": piece},
                          topic_type=r["topic_type"], audience=r["audience"]))
    return out


def document_sources(seeds: pl.DataFrame) -> list[Source]:
    """The partition's document seeds: their extract, held to its names and figures (the seed's facts)."""
    out = []
    for s in seeds.filter(pl.col("source") == DOCUMENT_SOURCE).sort("seed_id").iter_rows(named=True):
        out.append(Source("document", s["source_id"], s["domain"], s["language"], s["title"], s["description"] or "",
                          {"facts": s["facts"], "required_facts": s["facts"], "description": s["description"]},
                          seed_id=s["seed_id"], topic_type=s["topic_type"]))
    return out


def rephrasings(config: CosmoConfig, sources: Sequence[Source]) -> list[Rephrasing]:
    """The rewrites of a partition's sources (none when balance.yaml rephrased.share is 0)."""
    settings = config.balance.rephrased
    if settings.share == 0 or not sources:
        return []
    library = TemplateLibrary(config.root / "templates")
    model = config.model
    out = []
    for source in sources:
        for fmt in formats_for(source.source_id, settings.formats, settings.per_article, config.project.run.random_seed):
            template = template_of(fmt)
            values = {"lang": source.language, "title": source.title}
            prompt = library.render(template, text=source.text, **values)
            version = library.version(template)
            key = stable_id("rephrase", source.source_id, fmt, version, prompt, model.model, model.generation_params())
            messages = ({"role": "system", "content": model.system_prompt}, {"role": "user", "content": prompt})
            out.append(Rephrasing(source, fmt, version, prompt, library.render(template, text="", **values),
                                  CompletionRequest(key=key, messages=messages)))
    return out


def judge_rephrasings(
    config: CosmoConfig, asked: Sequence[Rephrasing], completions: Sequence[Completion], settings: FilterSettings,
    language: str,
) -> pl.DataFrame:
    """Every rewrite with its verdict: the same gates as a draft, against its source's facts and title; no
    section plan (a Q&A has none of the article's headings) and no shape but the format's own, if any."""
    by_key = {c.key: c for c in completions}
    drafts = pl.DataFrame(
        [{"draft_id": r.request.key, "outline_id": r.request.key, "seed_id": r.source.seed_id or r.source.source_id,
          "domain": r.source.domain, "language": language, "model": config.model.model, "text": by_key[r.request.key].text,
          "status": by_key[r.request.key].status, "finish_reason": by_key[r.request.key].finish_reason} for r in asked],
        schema={k: frame_schema("drafts")[k] for k in
                ("draft_id", "outline_id", "seed_id", "domain", "language", "model", "text", "status", "finish_reason")},
    )
    plans = pl.DataFrame([{**r.source.grounds, "outline_id": r.request.key, "title": r.source.title, "prompt": r.instruction,
                           "sections": [], "content_type": r.format} for r in asked], schema=plan_schema())
    answered = drafts.filter(pl.col("status") == "ok")
    outcome = filter_drafts(answered, settings.model_copy(update={"min_section_coverage": 0.0}), language, plans)
    verdicts = {r["draft_id"]: (r, True) for r in outcome.kept.iter_rows(named=True)}
    verdicts |= {r["draft_id"]: (r, False) for r in outcome.rejected.iter_rows(named=True)}
    return pl.DataFrame([_row(config, r, by_key[r.request.key], verdicts.get(r.request.key)) for r in asked],
                        schema=frame_schema("rephrased_articles"))


def _row(config: CosmoConfig, r: Rephrasing, c: Completion, verdict: tuple[dict, bool] | None) -> dict:
    scores, kept = verdict if verdict else ({}, False)
    s = r.source
    return {
        "rephrase_id": r.request.key, "derived_from": s.source_id, "source_kind": s.kind, "outline_id": s.outline_id,
        "seed_id": s.seed_id, "title": s.title, "topic_type": s.topic_type, "audience": s.audience,
        "domain": s.domain, "language": s.language,
        "format": r.format, "template_id": template_of(r.format), "template_version": r.template_version,
        "model": config.model.model, "text": scores.get("text", c.text), "status": c.status, "finish_reason": c.finish_reason,
        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd,
        "fact_coverage": scores.get("fact_coverage"), "unsupported_claims": scores.get("unsupported_claims"),
        "quality_score": scores.get("quality_score"), "kept": kept,
        "reject_reasons": scores.get("reject_reasons") or ([] if kept else [f"not answered: {c.status}"]),
    }


def sources_of(config: CosmoConfig, domain: str, articles: pl.DataFrame, outlines: pl.DataFrame, seeds: pl.DataFrame,
               real_text: pl.DataFrame | None) -> list[Source]:
    """What the partition rewrites, as balance.yaml rephrased.sources names it (outlines joined with_seed_facts;
    `real_text` the language's corpora, read only when real_text is named)."""
    wanted = config.balance.rephrased.sources
    return [
        *(article_sources(articles, outlines) if "articles" in wanted else []),
        *(real_text_sources(config, real_text, domain) if "real_text" in wanted and real_text is not None else []),
        *(document_sources(seeds) if "documents" in wanted else []),
    ]


def source_table(sources: Sequence[Source]) -> pl.DataFrame:
    """The sources read, as the contract checks `derived_from` against them."""
    return pl.DataFrame([(s.kind, s.source_id) for s in sources], schema={"source_kind": pl.String, "derived_from": pl.String},
                        orient="row")
