"""configs/seeds.yaml: limits on seed rows, the quarantine threshold, Wikidata settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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


class DocumentClusters(StrictModel):
    """TF-IDF + k-means over every document of a file; each cluster goes to the domain whose title, description
    and keyword rules its top terms are nearest, unless `domains` names one; `exclude` drops clusters."""

    k: int = Field(default=6, ge=1)
    random_seed: int = Field(default=1, ge=0)
    top_terms: int = Field(default=8, ge=1, le=50, description="Terms shown per cluster in document_clusters.")
    exclude: list[int] = Field(default_factory=list, description="Clusters whose documents seed nothing.")
    domains: dict[int, str] = Field(default_factory=dict, description="Cluster -> domain, instead of the nearest.")


class DocumentSettings(StrictModel):
    """How documents (sources of kind `documents`) become seeds: the extract a prompt quotes, and which domain each seeds."""

    extract_chars: int = Field(default=700, ge=100, description="The extract: at most this many characters, cut at a sentence end.")
    extract_start_chars: int = Field(default=0, ge=0, description="Where the window starts in the text.")
    topic_type: TopicType = Field(default="concept", description="The topic type document seeds are planned as.")
    max_facts: int = Field(default=8, ge=1, description="Names and numbers of the extract kept as its facts.")
    template: str = Field(default="document_extract.j2", description="The prompt template of document seeds, under templates/.")
    assign: Literal["keywords", "clusters"] = "keywords"
    keyword_rules: dict[str, list[str]] = Field(
        default_factory=dict, description="Domain -> words; a document goes to the domain whose words it says most.")
    clusters: DocumentClusters = DocumentClusters()


class SeedSettings(StrictModel):
    max_bad_share: float = Field(default=0.05, ge=0, le=1, description="Above this quarantined share the seeds check fails.")
    limits: SeedLimits = SeedLimits()
    wikidata: WikidataSettings
    documents: DocumentSettings = DocumentSettings()

    @model_validator(mode="after")
    def _extract_fits(self) -> SeedSettings:
        if self.documents.extract_chars > self.limits.description_chars:
            raise ValueError(f"documents.extract_chars ({self.documents.extract_chars}) must not exceed "
                             f"limits.description_chars ({self.limits.description_chars}): the extract is the seed's description")
        return self
