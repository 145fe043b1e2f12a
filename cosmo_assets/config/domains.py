"""configs/domains/<domain>.yaml: a domain, its seed sources and their filters."""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cosmo_assets.config.base import StrictModel, TopicType, WikidataId


class SourceSettings(StrictModel):
    """What every source entry of a domain file has; each kind adds its own fields and `kind` literal."""

    name: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]*$", description="Recorded as each seed's source; defaults to the kind."
    )
    path: str = Field(description="The file, relative to configs/ unless absolute.")

    @property
    def source_name(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class CuratedJsonlSource(SourceSettings):
    """One JSON object per line: id, title, topic_type, description, facts, keywords."""

    kind: Literal["curated_jsonl"]


class WikidataSource(SourceSettings):
    """A Wikidata JSON dump (.json, .json.gz or .json.bz2): a JSON array with one entity per line."""

    kind: Literal["wikidata"]
    topic_types: dict[TopicType, list[WikidataId]] = Field(
        default_factory=dict,
        description="instance-of (P31) classes per topic type, checked before seeds.yaml wikidata.topic_types.",
    )


class ColumnMapping(StrictModel):
    id: str
    title: str
    topic_type: str | None = None
    description: str | None = None
    keywords: str | None = Field(default=None, description="One column; values split on the source's list_separator.")
    language: str | None = Field(default=None, description="When set, only rows of the partition's language are read.")
    instance_of: str | None = Field(default=None, description="Classes matched by the domain's instance_of filter.")


class TabularSource(SourceSettings):
    """CSV or Parquet: one row per entity, columns named by `columns`, one fact per column in `facts`."""

    kind: Literal["csv", "parquet"]
    columns: ColumnMapping
    facts: dict[str, str] = Field(default_factory=dict, description="Column name -> fact property.")
    topic_type: TopicType | None = Field(default=None, description="The topic type of rows with no topic_type column or value.")
    topic_types: dict[str, TopicType] = Field(default_factory=dict, description="topic_type column value -> topic type.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    list_separator: str = Field(default=";", min_length=1)


class DocumentsSource(SourceSettings):
    """Real documents (JSONL or Parquet: `text`, optional `id`, `url`, `title`, `language`): each becomes a seed
    whose extract goes into the prompt. Which domain a document seeds is decided across every domain by
    seeds.yaml `documents` (keyword rules or clusters): list the file in each domain it may seed."""

    kind: Literal["documents"]


# Every source kind's settings, told apart by `kind`. Its reader is registered in knowledge_base/registry.py.
SOURCE_SETTINGS: tuple[type[SourceSettings], ...] = (CuratedJsonlSource, WikidataSource, TabularSource, DocumentsSource)
Source = Annotated[functools.reduce(operator.or_, SOURCE_SETTINGS), Field(discriminator="kind")]


class DomainFilters(StrictModel):
    """Which entities of the sources belong to the domain; an empty list does not filter."""

    ids: list[str] = Field(default_factory=list, description="Source ids to keep (e.g. Q7186).")
    instance_of: list[str] = Field(default_factory=list, description="Keep entities that are an instance of one of these classes.")
    keywords: list[str] = Field(default_factory=list, description="Keep entities whose title, description, aliases or keywords contain one.")


class Domain(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str = ""
    knowledge_base: str | None = Field(
        default=None, description="Shorthand for one curated JSONL source: its path relative to configs/."
    )
    sources: list[Source] = Field(default_factory=list)
    filters: DomainFilters = DomainFilters()

    @model_validator(mode="after")
    def _checks(self) -> Domain:
        names = [s.source_name for s in self.all_sources]
        if not names:
            raise ValueError("expected at least one source: set 'sources' (or 'knowledge_base' for one curated JSONL file)")
        if len(set(names)) != len(names):
            raise ValueError(f"sources: names must be unique within a domain (set 'name'), got {names}")
        return self

    @property
    def all_sources(self) -> list[SourceSettings]:
        shorthand = [CuratedJsonlSource(kind="curated_jsonl", path=self.knowledge_base)] if self.knowledge_base else []
        return shorthand + list(self.sources)
