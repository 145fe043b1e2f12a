"""Prompt templates: Jinja2 files under configs/templates, each versioned by a digest of its source and of
every template it pulls in. jinja2 only, so `stale` and the config check load it without the stage libraries."""

from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import jinja2.meta

from cosmo_assets.ids import content_hash

if TYPE_CHECKING:
    from cosmo_assets.config import CosmoConfig


@functools.lru_cache(maxsize=512)
def _referenced(source: str) -> tuple[str, ...]:
    """The templates a source extends, imports or includes. Parsing is most of a version's cost, and `stale`
    or a sensor tick versions every template once per partition: each distinct source is parsed once."""
    return tuple(t for t in jinja2.meta.find_referenced_templates(_PARSER.parse(source)) if t)


_PARSER = jinja2.Environment()  # parses only; the same syntax as TemplateLibrary.env


class TemplateError(ValueError):
    """A prompt template failed to load or render; the message names the template."""


@dataclass(frozen=True)
class TemplateLibrary:
    """Jinja2 prompt templates under configs/templates, each versioned by the hash of its source
    and of every template it extends, imports or includes."""

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
            pending.extend(_referenced(source))
        return content_hash(sorted(sources), length=12)

    def render(self, name: str, **values: object) -> str:
        try:
            text = self.env.get_template(name).render(**values)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self.directory / name} ({self._position(exc, name)}): {exc}") from exc
        return "\n".join(line.rstrip() for line in text.strip().splitlines())


    def _position(self, exc: jinja2.TemplateError, name: str) -> str:
        """template:line of the error. A syntax error carries it; an undefined variable does not, but jinja
        maps its traceback onto the template's lines, so the innermost frame in a template file has it."""
        if getattr(exc, "lineno", None):
            return f"{getattr(exc, 'filename', None) or name}:{exc.lineno}"
        where = f"{name}:?"
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            path = Path(frame.f_code.co_filename)
            if path.parent == self.directory.resolve() or path.parent == self.directory:
                where = f"{path.name}:{lineno}"
        return where


WORDS_PER_TOKEN = 0.6  # a word is 1.3 tokens or more; the rest is room for a model that writes past the length asked


def target_words(config: CosmoConfig, ct=None) -> int:
    """The length a prompt asks for: the content type's `words` (else outlines.yaml target_words), capped at
    0.6 words per model.yaml max_tokens, rounded down to tens, so that a draft of that length can end."""
    wanted = (ct.words if ct is not None and ct.words else None) or config.outlines.target_words
    return max(30, min(wanted, int(config.model.max_tokens * WORDS_PER_TOKEN) // 10 * 10))
