"""Stage 1, seeds: read a domain's knowledge base into one row per entity to write about."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cosmo_assets.config import TOPIC_TYPES, CosmoConfig
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.storage import frame_schema

SOURCE_CURATED = "curated_jsonl"


class SeedFileError(ValueError):
    """A knowledge-base row is malformed; the message names the file, the line and the field."""


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    property: str = Field(min_length=1)
    value: str = Field(min_length=1)


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    topic_type: str
    description: str = ""
    facts: list[_Fact] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    def model_post_init(self, _context: object) -> None:
        if self.topic_type not in TOPIC_TYPES:
            raise ValueError(f"topic_type {self.topic_type!r} is not one of {list(TOPIC_TYPES)}")


def read_curated_jsonl(path: Path) -> list[_Entity]:
    entities: list[_Entity] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entity = _Entity.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SeedFileError(f"{path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            except (ValidationError, ValueError) as exc:
                raise SeedFileError(f"{path}:{line_no}: {_describe(exc)}") from None
            if entity.id in seen:
                raise SeedFileError(f"{path}:{line_no}: field 'id': {entity.id!r} already used on line {seen[entity.id]}")
            seen[entity.id] = line_no
            entities.append(entity)
    return entities


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or '(row)'}': {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def build_seeds(config: CosmoConfig, domain: str, language: str, limit: int | None) -> pl.DataFrame:
    """One row per entity; `limit` draws a deterministic, seeded sample so small runs span the base."""
    path = config.knowledge_base_path(domain)
    entities = read_curated_jsonl(path)
    if limit is not None and limit < len(entities):
        salt = config.project.run.random_seed
        entities = sorted(entities, key=lambda e: content_hash(salt, domain, e.id))[:limit]
    entities.sort(key=lambda e: e.id)
    rows = [
        {
            "seed_id": stable_id("seed", domain, language, SOURCE_CURATED, e.id),
            "domain": domain,
            "language": language,
            "title": e.title,
            "topic_type": e.topic_type,
            "description": e.description,
            "facts": [f.model_dump() for f in e.facts],
            "keywords": e.keywords,
            "source": SOURCE_CURATED,
            "source_id": e.id,
        }
        for e in entities
    ]
    return pl.DataFrame(rows, schema=frame_schema("seeds"))

