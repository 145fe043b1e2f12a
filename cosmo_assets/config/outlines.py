"""configs/outlines.yaml: content types, audiences, styles, section structures, the mix."""

from __future__ import annotations

from pydantic import Field, model_validator

from cosmo_assets.config.base import TOPIC_TYPES, StrictModel, TopicType

_ID = r"^[a-z][a-z0-9_]*$"


class ContentType(StrictModel):
    id: str = Field(pattern=_ID)
    template: str = Field(description="Jinja2 file under configs/templates/.")
    description: str
    weight: float = Field(default=1.0, gt=0)
    structure: str = Field(
        default="topic",
        description="'topic' (the seed's topic type's structure), 'timeline' (dated facts in order), or a name in structures.",
    )
    topic_types: list[TopicType] | None = Field(default=None, description="Seeds it suits; null means every topic type.")
    audiences: list[str] | None = Field(default=None, description="Audiences it suits; null means all.")
    styles: list[str] | None = Field(default=None, description="Styles it suits; null means all.")
    min_dated_facts: int = Field(default=0, ge=0, description="Seeds need at least this many dated facts.")
    angles: list[str] | None = Field(default=None, description="Angles it suits; null means all.")
    words: int | None = Field(
        default=None, ge=30, description="Length its prompt asks for (default: target_words), capped like target_words."
    )


class Audience(StrictModel):
    id: str = Field(pattern=_ID)
    description: str
    weight: float = Field(default=1.0, gt=0)


class Style(StrictModel):
    id: str = Field(pattern=_ID)
    description: str
    weight: float = Field(default=1.0, gt=0)


class Angle(StrictModel):
    id: str = Field(pattern=_ID)
    description: str
    weight: float = Field(default=1.0, gt=0)


class OutlineSection(StrictModel):
    heading: dict[str, str] = Field(description="The heading in every declared language.")
    match: list[str] = Field(
        default_factory=list, description="Facts whose English property name contains one of these go here."
    )
    rest: bool = Field(default=False, description="Takes the facts no other section matches.")
    keep: bool = Field(default=False, description="Kept in the outline even when no fact lands in it.")


class ModelOutlineSettings(StrictModel):
    """Outlines proposed by the model (JSON), k variants per seed; off by default (SmolLM2 is too small for it)."""

    enabled: bool = False
    variants: int = Field(default=2, ge=1)
    template: str = "outline_request.j2"
    max_tokens: int = Field(default=400, ge=16)
    temperature: float = Field(default=0.0, ge=0, le=2)


class OutlineSettings(StrictModel):
    content_types: list[ContentType] = Field(min_length=1)
    audiences: list[Audience] = Field(min_length=1)
    styles: list[Style] = Field(min_length=1)
    angles: list[Angle] = Field(
        min_length=1, description="What an outline's article opens with or leans on; a seed's variants get different ones."
    )
    structures: dict[str, list[OutlineSection]] = Field(
        description="Section plan per topic type, 'timeline', and any structure a content type names."
    )
    outlines_per_seed: int = Field(default=1, ge=1)
    target_words: int = Field(
        default=250, ge=30, description="Length asked for; capped at 0.6 words per model.yaml max_tokens, so an answer can end."
    )
    max_facts_in_prompt: int = Field(default=8, ge=1)
    mix_tolerance_pp: float = Field(default=5.0, gt=0, le=100)
    near_duplicate_similarity: float = Field(default=0.7, gt=0, le=1)
    model_outlines: ModelOutlineSettings = ModelOutlineSettings()

    @model_validator(mode="after")
    def _checks(self) -> OutlineSettings:
        for kind, items in (("content_types", self.content_types), ("audiences", self.audiences), ("styles", self.styles),
                           ("angles", self.angles)):
            ids = [i.id for i in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{kind}: ids must be unique, got {ids}")
        missing = [t for t in (*TOPIC_TYPES, "timeline") if t not in self.structures]
        if missing:
            raise ValueError(f"structures: expected a section plan for every topic type and 'timeline', missing {missing}")
        for name, sections in self.structures.items():
            if not sections:
                raise ValueError(f"structures.{name}: expected at least one section")
            rest = sum(s.rest for s in sections)
            if rest != 1:
                raise ValueError(f"structures.{name}: expected exactly one section with rest: true (got {rest}), so every fact has a place")
        audiences, styles, angles = {a.id for a in self.audiences}, {s.id for s in self.styles}, {a.id for a in self.angles}
        for i, ct in enumerate(self.content_types):
            if ct.structure != "topic" and ct.structure not in self.structures:
                raise ValueError(f"content_types.{i}.structure: {ct.structure!r} is not 'topic' or one of {sorted(self.structures)}")
            for field_name in ("topic_types", "audiences", "styles", "angles"):
                if getattr(ct, field_name) == []:
                    raise ValueError(f"content_types.{i}.{field_name}: an empty list suits nothing; leave it out to suit all")
            for field_name, allowed in (("audiences", audiences), ("styles", styles), ("angles", angles)):
                unknown = sorted(set(getattr(ct, field_name) or ()) - allowed)
                if unknown:
                    raise ValueError(f"content_types.{i}.{field_name}: {unknown} are not configured {field_name}")
        return self
