"""configs/seeds.yaml: limits on seed rows, the quarantine threshold, Wikidata settings."""

from __future__ import annotations

from pydantic import Field

from cosmo_assets.config.base import StrictModel, TopicType, WikidataId


class SeedLimits(StrictModel):
    """A row with a field past its limit is quarantined as oversized, not truncated."""

    title_chars: int = Field(default=200, ge=1)
    description_chars: int = Field(default=1000, ge=1)
    fact_value_chars: int = Field(default=500, ge=1)
    facts: int = Field(default=60, ge=1)
    keywords: int = Field(default=50, ge=0)
    row_bytes: int = Field(default=16_000_000, ge=1, description="One line or row, before parsing.")


class WikidataSettings(StrictModel):
    topic_types: dict[TopicType, list[WikidataId]] = Field(description="instance-of (P31) classes per topic type.")
    label_fallback: list[str] = Field(
        default_factory=lambda: ["mul"], description="Label languages tried after the partition's own."
    )
    values_per_property: int = Field(default=3, ge=1)


class SeedSettings(StrictModel):
    max_bad_share: float = Field(default=0.05, ge=0, le=1, description="Above this quarantined share the seeds check fails.")
    limits: SeedLimits = SeedLimits()
    wikidata: WikidataSettings
