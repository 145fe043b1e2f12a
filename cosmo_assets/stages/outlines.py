"""Stage 2, outlines: turn each seed into an article plan and the prompt that asks for it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jinja2
import jinja2.meta
import polars as pl

from cosmo_assets.config import CosmoConfig
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.storage import frame_schema


class TemplateError(ValueError):
    """A prompt template failed to load or render; the message names the template."""


@dataclass(frozen=True)
class TemplateLibrary:
    """Jinja2 prompt templates under configs/templates, each versioned by the hash of its source
    and of every template it extends or includes."""

    directory: Path

    @cached_property
    def env(self) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def version(self, name: str) -> str:
        sources: list[str] = []
        pending, seen = [name], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            source = self.env.loader.get_source(self.env, current)[0]
            sources.append(f"{current}\n{source}")
            pending.extend(t for t in jinja2.meta.find_referenced_templates(self.env.parse(source)) if t)
        return content_hash(sorted(sources), length=12)

    def render(self, name: str, **values: object) -> str:
        try:
            text = self.env.get_template(name).render(**values)
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', None) or name}:{getattr(exc, 'lineno', '?')}"
            raise TemplateError(f"{self.directory / name} ({where}): {exc}") from exc
        return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _draw(options: Sequence, weights: Sequence[float], *key: object):
    """A weighted choice that depends only on `key`: the same seed draws the same option on every run."""
    point = int(content_hash(*key), 16) / 16**16 * sum(weights)
    running = 0.0
    for option, weight in zip(options, weights):
        running += weight
        if point < running:
            return option
    return options[-1]


def build_outlines(config: CosmoConfig, seeds: pl.DataFrame, excluded_templates: Collection[str] = ()) -> pl.DataFrame:
    """`excluded_templates`: templates reviewers rejected (stages/review.py excluded_templates); no
    outline draws them."""
    settings = config.outlines
    content_types = [ct for ct in settings.content_types if ct.template not in set(excluded_templates)]
    if not content_types:
        raise TemplateError(
            f"every content type's template is left out by review verdicts ({sorted(excluded_templates)}); "
            "edit a template (its new version is reviewed afresh) or lower review.min_accept_rate in balance.yaml"
        )
    library = TemplateLibrary(config.root / "templates")
    versions = {ct.template: library.version(ct.template) for ct in settings.content_types}
    salt = config.project.run.random_seed
    rows = []
    for seed in seeds.iter_rows(named=True):
        variant = 0
        key = (salt, seed["seed_id"], variant)
        content_type = _draw(content_types, [c.weight for c in content_types], "content_type", *key)
        audience = _draw(settings.audiences, [a.weight for a in settings.audiences], "audience", *key)
        style = _draw(settings.styles, [s.weight for s in settings.styles], "style", *key)
        sections = settings.sections[seed["topic_type"]]
        facts = (seed["facts"] or [])[: settings.max_facts_in_prompt]
        prompt = library.render(
            content_type.template,
            title=seed["title"],
            description=seed["description"] or "",
            topic_type=seed["topic_type"],
            facts=facts,
            sections=sections,
            audience=audience.description,
            style=style.description,
            language=config.language(seed["language"]).name,
        )
        template_version = versions[content_type.template]
        rows.append(
            {
                "outline_id": stable_id(
                    "outline", seed["seed_id"], content_type.id, audience.id, style.id,
                    content_type.template, template_version, variant,
                ),
                "seed_id": seed["seed_id"],
                "domain": seed["domain"],
                "language": seed["language"],
                "title": seed["title"],
                "topic_type": seed["topic_type"],
                "content_type": content_type.id,
                "audience": audience.id,
                "style": style.id,
                "template_id": content_type.template,
                "template_version": template_version,
                "variant": variant,
                "sections": sections,
                "required_facts": facts,
                "prompt": prompt,
                "prompt_hash": content_hash(prompt),
            }
        )
    return pl.DataFrame(rows, schema=frame_schema("outlines"))
