"""Stage 2, outlines: turn each seed into article plans (content type, audience, style, sections with the facts
each must use) and the prompts that ask for them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import polars as pl

from cosmo_assets.config import ContentType, CosmoConfig
from cosmo_assets.diversity import diversity_figures, near_duplicates, signatures
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.outlining.facts import readable_fact
from cosmo_assets.outlining.mix import deal, mix_report
from cosmo_assets.outlining.proposals import ProposalError, parse_proposal
from cosmo_assets.outlining.structure import FactReader, PlannedSection, place_facts, select_facts, timeline
from cosmo_assets.outlining.templates import TemplateError, TemplateLibrary, target_words
from cosmo_assets.storage import frame_schema

STRUCTURAL = "structural"
MODEL = "model"
MODEL_FALLBACK = "structural_fallback"  # the model's outline did not fit the schema


# Completes requests in order (LLMClient.complete_all); given when model-proposed outlines are on.
Complete = Callable[[Sequence], list]


@dataclass
class OutlineBatch:
    outlines: pl.DataFrame
    mix: dict  # per dimension: configured vs actual share of every option
    near_duplicate_prompts: list[dict]
    prompt_diversity: dict
    proposals: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Item:
    seed_id: str
    variant: int
    origin: str  # STRUCTURAL or MODEL


def build_outlines(
    config: CosmoConfig, seeds: pl.DataFrame, complete: Complete | None = None, excluded_templates: Collection[str] = ()
) -> pl.DataFrame:
    return plan_outlines(config, seeds, complete, excluded_templates).outlines


def plan_outlines(
    config: CosmoConfig, seeds: pl.DataFrame, complete: Complete | None = None, excluded_templates: Collection[str] = ()
) -> OutlineBatch:
    """Plans for every seed of one partition: the mix is dealt by quota across the partition, each plan's
    sections come from the seed's facts, and the prompt is rendered from the content type's template.
    `excluded_templates`: templates reviewers rejected (stages/review.py excluded_templates); no outline
    draws them."""
    settings = config.outlines
    allowed_types = [ct for ct in settings.content_types if ct.template not in set(excluded_templates)]
    if not allowed_types:
        raise TemplateError(
            f"every content type's template is left out by review verdicts ({sorted(excluded_templates)}); "
            "edit a template (its new version is reviewed afresh) or lower review.min_accept_rate in balance.yaml"
        )
    library = TemplateLibrary(config.root / "templates")
    reader = FactReader(config.wikidata_vocabulary.canonical_names)
    by_id = {s["seed_id"]: s for s in seeds.iter_rows(named=True)}
    model_on = settings.model_outlines.enabled
    items = [_Item(sid, v, STRUCTURAL) for sid in sorted(by_id) for v in range(settings.outlines_per_seed)]
    if model_on:
        first = settings.outlines_per_seed
        items += [_Item(sid, first + k, MODEL) for sid in sorted(by_id) for k in range(settings.model_outlines.variants)]
    salt = (config.project.run.random_seed, sorted(set(seeds["domain"])), sorted(set(seeds["language"])))

    content_types = {c.id: c for c in settings.content_types}
    facts_of = {sid: [dict(f) for f in (s["facts"] or [])] for sid, s in by_id.items()}
    ct_deal, audience_deal, style_deal, angle_deal = _deal_mix(config, items, by_id, facts_of, allowed_types, reader, salt)

    plans: dict[_Item, tuple[list[PlannedSection], list[dict], str]] = {}
    for it in items:
        seed, ct = by_id[it.seed_id], content_types[ct_deal.chosen[it]]
        facts = select_facts(facts_of[it.seed_id], settings.max_facts_in_prompt, reader, prefer_dated=ct.structure == "timeline")
        plans[it] = (_structure(config, ct, seed, facts, reader), facts, STRUCTURAL)
    proposals = {}
    if model_on:
        proposals = _propose(config, library, [it for it in items if it.origin == MODEL], by_id, plans, audience_deal.chosen,
                             reader, complete)

    versions = {c.template: library.version(c.template) for c in settings.content_types}
    documents = document_sources(config, set(seeds["domain"]))
    if documents:
        versions[config.seeds.documents.template] = library.version(config.seeds.documents.template)
    rows = [
        _outline_row(config, library, versions, it, by_id[it.seed_id], content_types[ct_deal.chosen[it]],
                     (audience_deal.chosen[it], style_deal.chosen[it], angle_deal.chosen[it]), plans[it], reader,
                     by_id[it.seed_id]["source"] in documents)
        for it in items
    ]
    frame = pl.DataFrame(rows, schema=frame_schema("outlines"))
    return OutlineBatch(
        outlines=frame,
        mix=_mix(frame, config, {"content_type": ct_deal.target, "audience": audience_deal.target, "style": style_deal.target,
                                 "angle": angle_deal.target}),
        near_duplicate_prompts=_near_duplicate_prompts(frame, settings.near_duplicate_similarity),
        prompt_diversity=diversity_figures(frame["prompt"].to_list()),
        proposals=proposals,
    )


def _deal_mix(config: CosmoConfig, items: list[_Item], by_id: dict, facts_of: dict[str, list[dict]],
              allowed_types: list[ContentType], reader: FactReader, salt):
    """Content types, then audiences, styles and angles the chosen content type allows, dealt by quota across the
    partition; the outlines of one seed get different options while they can (so its variants differ in angle)."""
    settings = config.outlines
    content_types = {c.id: c for c in settings.content_types}
    group = {it: it.seed_id for it in items}
    dated = {sid: min(reader.dated_count(f), settings.max_facts_in_prompt) for sid, f in facts_of.items()}
    ct_deal = deal(
        items,
        {c.id: c.weight for c in allowed_types},
        {it: [c.id for c in allowed_types if _suits(c, by_id[it.seed_id]["topic_type"], dated[it.seed_id])] for it in items},
        (salt, "content_type"),
        group,
    )
    def deal_among(options, field: str):
        # Each item picks among the options its content type allows (all of them where it names none).
        ids = [o.id for o in options]
        allowed = {it: [o for o in ids if o in (getattr(content_types[ct_deal.chosen[it]], field) or ids)] for it in items}
        return deal(items, {o.id: o.weight for o in options}, allowed, (salt, field.rstrip("s")), group)

    audience_deal = deal_among(settings.audiences, "audiences")
    style_deal = deal_among(settings.styles, "styles")
    angle_deal = deal_among(settings.angles, "angles")
    return ct_deal, audience_deal, style_deal, angle_deal


def _outline_row(config: CosmoConfig, library: TemplateLibrary, versions: dict[str, str], it: _Item, seed: dict,
                 ct: ContentType, mix: tuple[str, str, str], plan: tuple[list[PlannedSection], list[dict], str],
                 reader: FactReader, document: bool = False) -> dict:
    """One outline: its plan, the prompt rendered from the content type's template (a document seed's from
    seeds.yaml documents.template, quoting its extract; facts written readably in the partition's language),
    and its stable id."""
    sections, facts, origin = plan
    audience, style, angle = mix
    language = seed["language"]
    readable = [{"heading": s.heading, "facts": [readable_fact(f, language, reader) for f in s.facts]} for s in sections]
    template = config.seeds.documents.template if document else ct.template
    prompt = library.render(
        template,
        url=(seed["keywords"] or [None])[0] if document else None,
        lang=seed["language"],
        language=config.language(seed["language"]).name,
        title=seed["title"],
        description=seed["description"] or "",
        topic_type=seed["topic_type"],
        content_type=ct.id,
        audience=audience,
        style=style,
        angle=angle,
        variant=it.variant,
        # Which phrasing of the boilerplate: by title, so a seed repeated under another id still reads the same.
        pick=int(content_hash(seed["title"], "phrasing", length=8), 16) + it.variant,
        outline=readable,
        words=target_words(config, ct),
    )
    plan_hash = content_hash([s.as_dict() for s in sections])
    return {
        "outline_id": stable_id(
            "outline", it.seed_id, ct.id, audience, style, angle, template, versions[template],
            it.variant, origin, plan_hash,
        ),
        "seed_id": it.seed_id,
        "domain": seed["domain"],
        "language": seed["language"],
        "title": seed["title"],
        "topic_type": seed["topic_type"],
        "content_type": ct.id,
        "audience": audience,
        "style": style,
        "angle": angle,
        "template_id": template,
        "template_version": versions[template],
        "variant": it.variant,
        "sections": [s.heading for s in sections],
        "required_facts": [f for s in sections for f in s.facts],
        "prompt": prompt,
        "prompt_hash": content_hash(prompt),
        "outline_source": origin,
        "seed_source": seed["source"],
        "seed_source_id": seed["source_id"],
    }


def document_sources(config: CosmoConfig, domains: Collection[str]) -> set[str]:
    """Names of the `documents` sources of these domains: their seeds are written from an extract."""
    return {s.source_name for d in domains for s in config.domain(d).all_sources if s.kind == "documents"}


def _suits(ct: ContentType, topic_type: str, dated_facts: int) -> bool:
    return (ct.topic_types is None or topic_type in ct.topic_types) and dated_facts >= ct.min_dated_facts


def _structure(config: CosmoConfig, ct: ContentType, seed: dict, facts: list[dict], reader: FactReader) -> list[PlannedSection]:
    structures, language = config.outlines.structures, seed["language"]
    if ct.structure == "timeline":
        return timeline(structures["timeline"], facts, language, reader)
    name = seed["topic_type"] if ct.structure == "topic" else ct.structure
    return place_facts(structures[name], facts, language, reader)


def _propose(config, library, items, by_id, plans, audiences, reader: FactReader, complete: Complete | None) -> dict:
    """Ask the model for an outline per item; an answer that does not fit keeps the structural plan."""
    from cosmo_assets.llm.client import CompletionRequest  # litellm loads only where it is used

    settings = config.model.model_copy(
        update={"max_tokens": config.outlines.model_outlines.max_tokens, "temperature": config.outlines.model_outlines.temperature}
    )
    template = config.outlines.model_outlines.template
    version = library.version(template)
    requests = []
    for it in items:
        seed = by_id[it.seed_id]
        prompt = library.render(
            template,
            lang=seed["language"],
            title=seed["title"],
            description=seed["description"] or "",
            audience=audiences[it],
            facts=[readable_fact(f, seed["language"], reader) for f in plans[it][1]],
            variant=it.variant,
        )
        key = stable_id("outline_request", it.seed_id, it.variant, version, prompt, settings.model, settings.generation_params())
        requests.append(CompletionRequest(key=key, messages=({"role": "user", "content": prompt},)))
    if complete is None:
        from cosmo_assets.llm.client import LLMClient, open_endpoint

        with open_endpoint(settings) as endpoint:
            completions = LLMClient(settings, endpoint).complete_all(requests)
    else:
        completions = complete(requests)
    errors: Counter = Counter()
    for it, completion in zip(items, completions):
        sections, facts, _ = plans[it]
        try:
            if completion.status != "ok":
                raise ProposalError(f"the request failed: {completion.error}")
            plans[it] = (parse_proposal(completion.text, facts), facts, MODEL)
        except ProposalError as exc:
            errors[str(exc).split(":")[0]] += 1
            plans[it] = (sections, facts, MODEL_FALLBACK)
    return {
        "requested": len(items),
        "accepted": len(items) - sum(errors.values()),
        "fell_back": sum(errors.values()),
        "errors": dict(errors),
        "template_version": version,
    }


def _mix(frame: pl.DataFrame, config: CosmoConfig, targets: dict[str, dict[str, int]]) -> dict:
    settings = config.outlines
    weights = {
        "content_type": {c.id: c.weight for c in settings.content_types},
        "audience": {a.id: a.weight for a in settings.audiences},
        "style": {s.id: s.weight for s in settings.styles},
        "angle": {a.id: a.weight for a in settings.angles},
    }
    report = {}
    for column, w in weights.items():
        report[column] = mix_report(frame[column].to_list(), w)
        for option, row in report[column]["options"].items():
            row["reachable_count"] = targets[column].get(option, 0)
    return report


def _near_duplicate_prompts(frame: pl.DataFrame, threshold: float) -> list[dict]:
    if frame.height < 2:
        return []
    keys, prompts = frame["outline_id"].to_list(), frame["prompt"].to_list()
    pairs = near_duplicates(keys, signatures(prompts), threshold)
    seed_of = dict(zip(keys, frame["seed_id"].to_list()))
    return [{**p, "same_seed": seed_of[p["a"]] == seed_of[p["b"]]} for p in pairs]
