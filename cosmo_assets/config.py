"""The one config loader: reads configs/*.yaml, validates with pydantic, fails naming file and field."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "configs"

TopicType = Literal["person", "concept", "event", "place", "organisation", "creative_work"]
TOPIC_TYPES: tuple[str, ...] = get_args(TopicType)


class ConfigError(ValueError):
    """A config file is missing or invalid. The message names the file, the field and what was expected."""


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- configs/project.yaml -------------------------------------------------------------------


class StorageSettings(_Strict):
    duckdb_path: str = "data/cosmo.duckdb"
    export_dir: str = "data/exports"


class RunSettings(_Strict):
    seeds_per_partition: int | None = Field(
        default=6, ge=1, description="Seeds drawn per domain x language partition; null means every seed."
    )
    random_seed: int = 20261125


class ScheduleSettings(_Strict):
    nightly_cron: str = "0 2 * * *"
    timezone: str = "UTC"
    input_check_interval_s: int = Field(
        default=60, ge=10, description="How often the input_changes sensor looks for changed configs, seeds and code."
    )

    @field_validator("nightly_cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("expected a 5-field cron expression such as '0 2 * * *'")
        return v


class ProjectSettings(_Strict):
    storage: StorageSettings = StorageSettings()
    run: RunSettings = RunSettings()
    schedule: ScheduleSettings = ScheduleSettings()


# --- configs/languages.yaml -------------------------------------------------------------------


class Language(_Strict):
    code: str = Field(pattern=r"^[a-z]{2,3}$")
    name: str
    enabled: bool = False


class LanguagesFile(_Strict):
    languages: list[Language]

    @model_validator(mode="after")
    def _checks(self) -> "LanguagesFile":
        codes = [lang.code for lang in self.languages]
        if len(set(codes)) != len(codes):
            raise ValueError(f"language codes must be unique, got {codes}")
        if not any(lang.enabled for lang in self.languages):
            raise ValueError("at least one language must have enabled: true")
        return self


# --- configs/domains/*.yaml -------------------------------------------------------------------

WikidataId = Annotated[str, Field(pattern=r"^Q[1-9][0-9]*$")]


class _Source(_Strict):
    name: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]*$", description="Recorded as each seed's source; defaults to the kind."
    )
    path: str = Field(description="The file, relative to configs/ unless absolute.")

    @property
    def source_name(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class CuratedJsonlSource(_Source):
    """One JSON object per line: id, title, topic_type, description, facts, keywords."""

    kind: Literal["curated_jsonl"]


class WikidataSource(_Source):
    """A Wikidata JSON dump (.json, .json.gz or .json.bz2): a JSON array with one entity per line."""

    kind: Literal["wikidata"]
    topic_types: dict[TopicType, list[WikidataId]] = Field(
        default_factory=dict,
        description="instance-of (P31) classes per topic type, checked before seeds.yaml wikidata.topic_types.",
    )


class ColumnMapping(_Strict):
    id: str
    title: str
    topic_type: str | None = None
    description: str | None = None
    keywords: str | None = Field(default=None, description="One column; values split on the source's list_separator.")
    language: str | None = Field(default=None, description="When set, only rows of the partition's language are read.")
    instance_of: str | None = Field(default=None, description="Classes matched by the domain's instance_of filter.")


class TabularSource(_Source):
    """CSV or Parquet: one row per entity, columns named by `columns`, one fact per column in `facts`."""

    kind: Literal["csv", "parquet"]
    columns: ColumnMapping
    facts: dict[str, str] = Field(default_factory=dict, description="Column name -> fact property.")
    topic_type: TopicType | None = Field(default=None, description="The topic type of rows with no topic_type column or value.")
    topic_types: dict[str, TopicType] = Field(default_factory=dict, description="topic_type column value -> topic type.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    list_separator: str = Field(default=";", min_length=1)


Source = Annotated[CuratedJsonlSource | WikidataSource | TabularSource, Field(discriminator="kind")]


class DomainFilters(_Strict):
    """Which entities of the sources belong to the domain; an empty list does not filter."""

    ids: list[str] = Field(default_factory=list, description="Source ids to keep (e.g. Q7186).")
    instance_of: list[str] = Field(default_factory=list, description="Keep entities that are an instance of one of these classes.")
    keywords: list[str] = Field(default_factory=list, description="Keep entities whose title, description, aliases or keywords contain one.")


class Domain(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str = ""
    knowledge_base: str | None = Field(
        default=None, description="Shorthand for one curated JSONL source: its path relative to configs/."
    )
    sources: list[Source] = Field(default_factory=list)
    filters: DomainFilters = DomainFilters()

    @model_validator(mode="after")
    def _checks(self) -> "Domain":
        names = [s.source_name for s in self.all_sources]
        if not names:
            raise ValueError("expected at least one source: set 'sources' (or 'knowledge_base' for one curated JSONL file)")
        if len(set(names)) != len(names):
            raise ValueError(f"sources: names must be unique within a domain (set 'name'), got {names}")
        return self

    @property
    def all_sources(self) -> list[CuratedJsonlSource | WikidataSource | TabularSource]:
        shorthand = [CuratedJsonlSource(kind="curated_jsonl", path=self.knowledge_base)] if self.knowledge_base else []
        return shorthand + list(self.sources)


# --- configs/seeds.yaml -----------------------------------------------------------------------


class SeedLimits(_Strict):
    """A row with a field past its limit is quarantined as oversized, not truncated."""

    title_chars: int = Field(default=200, ge=1)
    description_chars: int = Field(default=1000, ge=1)
    fact_value_chars: int = Field(default=500, ge=1)
    facts: int = Field(default=60, ge=1)
    keywords: int = Field(default=50, ge=0)
    row_bytes: int = Field(default=16_000_000, ge=1, description="One line or row, before parsing.")


class WikidataSettings(_Strict):
    topic_types: dict[TopicType, list[WikidataId]] = Field(description="instance-of (P31) classes per topic type.")
    label_fallback: list[str] = Field(
        default_factory=lambda: ["mul"], description="Label languages tried after the partition's own."
    )
    values_per_property: int = Field(default=3, ge=1)


class SeedSettings(_Strict):
    max_bad_share: float = Field(default=0.05, ge=0, le=1, description="Above this quarantined share the seeds check fails.")
    limits: SeedLimits = SeedLimits()
    wikidata: WikidataSettings


class WikidataVocabulary(_Strict):
    """configs/wikidata_properties.yaml: readable names of the properties (and units) seeds keep."""

    properties: dict[Annotated[str, Field(pattern=r"^P[1-9][0-9]*$")], dict[str, str]] = Field(min_length=1)
    units: dict[WikidataId, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _english_names(self) -> "WikidataVocabulary":
        for kind, table in (("properties", self.properties), ("units", self.units)):
            missing = [k for k, names in table.items() if "en" not in names]
            if missing:
                raise ValueError(f"{kind}: every entry needs an 'en' name, missing for {missing}")
        return self

    @property
    def canonical_names(self) -> dict[str, str]:
        """Any language's property name (lower case) -> its English name, so outline rules are written once."""
        return {name.lower(): names["en"] for names in self.properties.values() for name in names.values()}


# --- configs/outlines.yaml --------------------------------------------------------------------

_ID = r"^[a-z][a-z0-9_]*$"


class ContentType(_Strict):
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


class Audience(_Strict):
    id: str = Field(pattern=_ID)
    description: str
    weight: float = Field(default=1.0, gt=0)


class Style(_Strict):
    id: str = Field(pattern=_ID)
    description: str
    weight: float = Field(default=1.0, gt=0)


class OutlineSection(_Strict):
    heading: dict[str, str] = Field(description="The heading in every declared language.")
    match: list[str] = Field(
        default_factory=list, description="Facts whose English property name contains one of these go here."
    )
    rest: bool = Field(default=False, description="Takes the facts no other section matches.")
    keep: bool = Field(default=False, description="Kept in the outline even when no fact lands in it.")


class ModelOutlineSettings(_Strict):
    """Outlines proposed by the model (JSON), k variants per seed; off by default (SmolLM2 is too small for it)."""

    enabled: bool = False
    variants: int = Field(default=2, ge=1)
    template: str = "outline_request.j2"
    max_tokens: int = Field(default=400, ge=16)
    temperature: float = Field(default=0.0, ge=0, le=2)


class OutlineSettings(_Strict):
    content_types: list[ContentType] = Field(min_length=1)
    audiences: list[Audience] = Field(min_length=1)
    styles: list[Style] = Field(min_length=1)
    structures: dict[str, list[OutlineSection]] = Field(
        description="Section plan per topic type, 'timeline', and any structure a content type names."
    )
    outlines_per_seed: int = Field(default=1, ge=1)
    target_words: int = Field(
        default=250, ge=30, description="Length asked for; capped at what model.yaml max_tokens can hold (1.6 tokens a word)."
    )
    max_facts_in_prompt: int = Field(default=8, ge=1)
    mix_tolerance_pp: float = Field(default=5.0, gt=0, le=100)
    near_duplicate_similarity: float = Field(default=0.8, gt=0, le=1)
    model_outlines: ModelOutlineSettings = ModelOutlineSettings()

    @model_validator(mode="after")
    def _checks(self) -> "OutlineSettings":
        for kind, items in (("content_types", self.content_types), ("audiences", self.audiences), ("styles", self.styles)):
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
        audiences, styles = {a.id for a in self.audiences}, {s.id for s in self.styles}
        for i, ct in enumerate(self.content_types):
            if ct.structure != "topic" and ct.structure not in self.structures:
                raise ValueError(f"content_types.{i}.structure: {ct.structure!r} is not 'topic' or one of {sorted(self.structures)}")
            for field_name in ("topic_types", "audiences", "styles"):
                if getattr(ct, field_name) == []:
                    raise ValueError(f"content_types.{i}.{field_name}: an empty list suits nothing; leave it out to suit all")
            for field_name, allowed in (("audiences", audiences), ("styles", styles)):
                unknown = sorted(set(getattr(ct, field_name) or ()) - allowed)
                if unknown:
                    raise ValueError(f"content_types.{i}.{field_name}: {unknown} are not configured {field_name}")
        return self


# --- configs/model.yaml -----------------------------------------------------------------------


class EmbeddedModelSettings(_Strict):
    n_parallel: int = Field(default=8, ge=1)
    n_threads: int = Field(default=2, ge=1)
    context_per_slot: int = Field(default=2048, ge=256)
    repeat_penalty: float = Field(default=1.1, ge=1.0)


class EndpointSettings(_Strict):
    """One deployment for litellm's Router. The key is named by its environment variable, never written here."""

    model: str | None = Field(default=None, description="litellm model string; default: the top-level model.")
    api_base: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    weight: float = Field(default=1.0, gt=0)
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute this deployment accepts.")


class CacheSettings(_Strict):
    backend: Literal["disk", "redis", "off"] = "disk"
    path: str | None = Field(default=None, description="disk: SQLite file; default llm_cache.sqlite beside the DuckDB file.")
    redis_url_env: str = Field(default="COSMO_REDIS_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    namespace: str = "cosmo-llm"


class BudgetLimits(_Strict):
    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1, description="Prompt plus completion tokens of paid calls.")

    @property
    def is_set(self) -> bool:
        return self.max_usd is not None or self.max_tokens is not None


class BudgetSettings(_Strict):
    run: BudgetLimits = BudgetLimits()
    partition: BudgetLimits = BudgetLimits()


class ModelSettings(_Strict):
    model: str = "embedded/smollm2-135m-instruct"
    api_base: str | None = None
    endpoints: list[EndpointSettings] = Field(
        default_factory=list, description="Several deployments of the model: litellm's Router balances across them."
    )
    fallbacks: list[EndpointSettings] = Field(
        default_factory=list, description="Deployments tried when the endpoints fail (each needs its model)."
    )
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_in_flight: int | None = Field(
        default=None, ge=1, description="Requests in flight; default is the model's slot count (embedded) or 16."
    )
    timeout_s: float = Field(default=300, gt=0)
    max_retries: int = Field(default=4, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0, description="First wait before a retry; doubled each time.")
    max_retry_wait_s: float = Field(default=60.0, ge=0, description="Longest wait between tries, Retry-After included.")
    max_failed_share: float = Field(default=0.2, ge=0, le=1)
    system_prompt: str = "You are a knowledgeable writer of clear, accurate educational text."
    continue_truncated: bool = Field(
        default=True, description="A draft that stopped at max_tokens gets one request to finish it; the joined text is filtered."
    )
    cache: CacheSettings = CacheSettings()
    budget: BudgetSettings = BudgetSettings()
    embedded: EmbeddedModelSettings = EmbeddedModelSettings()

    @model_validator(mode="after")
    def _checks(self) -> "ModelSettings":
        if self.is_embedded and (self.endpoints or self.fallbacks):
            raise ValueError("endpoints and fallbacks need a remote model; the embedded model runs in this process")
        for i, fallback in enumerate(self.fallbacks):
            if not fallback.model:
                raise ValueError(f"fallbacks.{i}.model: expected a litellm model string")
        return self

    @property
    def is_embedded(self) -> bool:
        return self.model.startswith("embedded/")

    @property
    def uses_router(self) -> bool:
        return len(self.endpoints) > 1 or bool(self.fallbacks)

    @property
    def in_flight(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        return self.embedded.n_parallel if self.is_embedded else 16

    def generation_params(self) -> dict[str, Any]:
        """The parameters that change a completion: part of every draft id."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}

    def answer_identity(self) -> dict[str, Any]:
        """What decides a model's answer besides the messages: the model and every parameter that changes it.
        The response cache is keyed on this, so which replica answered does not matter."""
        identity: dict[str, Any] = {"model": self.model, **self.generation_params()}
        if self.is_embedded:
            identity["repeat_penalty"] = self.embedded.repeat_penalty
        return identity


# --- configs/filters.yaml ---------------------------------------------------------------------


class ShapeRule(_Strict):
    """What an article of one content type must look like (filters.yaml `shapes`)."""

    min_paragraphs: int = Field(default=1, ge=0)
    min_numbered_lines: int = Field(default=0, ge=0, description="Lines starting '1.', 'Step 2', '-' or '*'.")
    max_list_line_share: float = Field(default=1.0, ge=0, le=1)
    min_speech_marks: int = Field(default=0, ge=0, description="Quotation marks, for dialogue.")
    min_questions: int = Field(default=0, ge=0, description="Sentences ending in a question mark (a forum question).")
    min_posts: int = Field(default=0, ge=0, description="Paragraphs or posts: a question and its answers.")


class DedupSettings(_Strict):
    """MinHash LSH with explicit parameters: a pair of similarity s becomes a candidate with probability
    1 - (1 - s^rows)^bands, then its exact shingle Jaccard decides."""

    shingle_words: int = Field(default=5, ge=1)
    num_perm: int = Field(default=128, ge=8, le=1024)
    bands: int = Field(default=20, ge=1)
    rows: int = Field(default=6, ge=1)
    threshold: float = Field(default=0.8, gt=0, le=1, description="Exact Jaccard of word shingles.")
    seed: int = Field(default=1, ge=0, description="Seed of the permutations; the stored index depends on it.")

    @model_validator(mode="after")
    def _fits(self) -> "DedupSettings":
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands} x {self.rows}) must not exceed num_perm ({self.num_perm})")
        return self


class BenchmarkFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    path: str = Field(description="JSONL or Parquet file, relative to configs/.")
    text_field: str = "question"
    id_field: str | None = Field(default=None, description="Item id column; the row number when absent.")


class DecontaminationSettings(_Strict):
    ngram_words: int = Field(default=10, ge=1)
    min_overlap: float = Field(
        default=0.5, ge=0, lt=1, description="Confirmed when more than this share of an item's words is matched."
    )
    benchmarks: list[BenchmarkFile] = []


class JudgeSettings(_Strict):
    """An optional model judge: lists the draft's claims, marks each against the seed facts, and scores 1-5
    for clarity, accuracy and educational value."""

    enabled: bool = False
    min_clarity: int = Field(default=3, ge=1, le=5)
    min_accuracy: int = Field(default=3, ge=1, le=5)
    min_educational_value: int = Field(default=3, ge=1, le=5)
    max_contradicted_claims: int = Field(default=0, ge=0, description="judge_contradicts fires above this.")
    max_unverifiable_share: float = Field(default=0.5, ge=0, le=1, description="...or above this share of claims.")
    max_article_chars: int = Field(default=6000, ge=200)


def _default_stop_words() -> dict[str, list[str]]:
    return {
        "en": ["the", "be", "to", "of", "and", "that", "have", "with"],
        "fr": ["le", "la", "les", "de", "et", "un", "une", "est"],
        "es": ["el", "la", "los", "de", "y", "que", "en", "un"],
        "de": ["der", "die", "das", "und", "ist", "zu", "den", "mit"],
    }


class FilterSettings(_Strict):
    min_words: int = Field(default=100, ge=0)
    max_words: int = Field(default=2000, ge=1)
    min_mean_word_length: float = Field(default=3.0, ge=0)
    max_mean_word_length: float = Field(default=10.0, gt=0)
    max_symbol_word_ratio: float = Field(default=0.1, ge=0)
    min_punctuated_line_share: float = Field(default=0.12, ge=0, le=1)
    max_duplicate_line_share: float = Field(default=0.3, ge=0, le=1)
    max_top_ngram_share: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    max_duplicate_ngram_share: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )
    min_stop_words: int = Field(default=2, ge=0)
    stop_words: dict[str, list[str]] = Field(default_factory=_default_stop_words)
    max_non_alphabetic_word_share: float = Field(default=0.2, ge=0, le=1)
    min_language_confidence: float = Field(default=0.6, ge=0, le=1)
    language_id_prefix_chars: int = Field(default=500, ge=50)
    min_section_coverage: float = Field(default=0.75, ge=0, le=1)
    shapes: dict[str, ShapeRule] = {}
    min_fact_coverage: float = Field(default=0.75, ge=0, le=1)
    max_contradicted_facts: int = Field(default=0, ge=0)
    max_unsupported_claims: float = Field(
        default=0.35, ge=0, le=1, description="Share of the text's dates, numbers and names the seed does not hold."
    )
    name_weight: float = Field(default=0.25, ge=0, le=1, description="A name counts this much of a date or number.")
    character_mentions: int = Field(default=3, ge=1, description="A one-word name said this often is a character.")
    clean_wrappers: bool = Field(default=True, description="Cut assistant openings and closings instead of rejecting.")
    max_chatter_sentences: int = Field(default=0, ge=0)
    prompt_echo_ngram_words: int = Field(default=5, ge=2)
    max_prompt_echo_share: float = Field(default=0.05, ge=0, le=1)
    dedup: DedupSettings = DedupSettings()
    decontamination: DecontaminationSettings = DecontaminationSettings()
    judge: JudgeSettings = JudgeSettings()
    min_kept_share: float = Field(default=0.2, ge=0, le=1, description="Below this the filter's check fails.")

    @model_validator(mode="after")
    def _bounds(self) -> "FilterSettings":
        if self.min_words >= self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must be below max_words ({self.max_words})")
        if self.min_mean_word_length >= self.max_mean_word_length:
            raise ValueError("min_mean_word_length must be below max_mean_word_length")
        for name, sizes in (("max_top_ngram_share", [2, 3, 4]), ("max_duplicate_ngram_share", [5, 6, 7, 8, 9, 10])):
            got = sorted(getattr(self, name))
            if got != sizes:
                raise ValueError(f"{name}: expected one threshold for each n-gram size {sizes}, got {got}")
            bad = {n: v for n, v in getattr(self, name).items() if not 0 <= v <= 1}
            if bad:
                raise ValueError(f"{name}: thresholds must be between 0 and 1, got {bad}")
        return self


# --- configs/balance.yaml ---------------------------------------------------------------------

# A quota target: "even" (equal shares among the values that have candidates), a map of shares that
# sum to 1, or None (no target for that dimension).
ShareTarget = Literal["even"] | dict[str, float] | None
QUOTA_DIMENSIONS = ("domain", "content_type", "audience", "topic_type")


class QuotaSettings(_Strict):
    domain: ShareTarget = "even"
    content_type: ShareTarget = "even"
    audience: ShareTarget = "even"
    topic_type: ShareTarget = None
    min_domain_share: dict[str, float] = Field(
        default_factory=dict, description="Floors for under-represented domains: at least this share each."
    )
    tolerance: float = Field(default=0.05, ge=0, le=0.5, description="How far (absolute) a share may miss its target.")
    min_release_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="To meet the targets the release may shrink, but to no less than this share of the "
        "candidates the caps allow (1: never shrink, 0: as far as needed).",
    )

    @field_validator("domain", "content_type", "audience", "topic_type", mode="before")
    @classmethod
    def _one_of_three(cls, v: Any) -> Any:
        if v is not None and v != "even" and not isinstance(v, dict):
            raise ValueError("expected 'even', a map of value: share that sums to 1, or null")
        return v

    @field_validator("domain", "content_type", "audience", "topic_type")
    @classmethod
    def _shares(cls, v: ShareTarget) -> ShareTarget:
        if isinstance(v, dict):
            bad = {k: s for k, s in v.items() if not 0 <= s <= 1}
            if bad:
                raise ValueError(f"shares must lie in [0, 1], got {bad}")
            if abs(sum(v.values()) - 1) > 1e-6:
                raise ValueError(f"shares must sum to 1, got {sum(v.values()):.4f}")
        return v

    @field_validator("min_domain_share")
    @classmethod
    def _floors(cls, v: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= s <= 1 for s in v.values()) or sum(v.values()) > 1 + 1e-6:
            raise ValueError(f"floors must lie in [0, 1] and sum to at most 1, got {v}")
        return v

    def targets(self) -> dict[str, ShareTarget]:
        return {d: getattr(self, d) for d in QUOTA_DIMENSIONS if getattr(self, d) is not None}


class RealTextCorpus(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    path: str = Field(description="Parquet or JSONL file, relative to configs/; one text per row (column `text`).")
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    domain: str | None = Field(default=None, description="Domain of every row; a row's own `domain` column wins.")
    content_type: str = "real_text"
    audience: str = "general_public"
    license: str = Field(description="Licence of the texts, shown in the dataset card.")


class RealTextSettings(_Strict):
    share: float = Field(default=0.0, ge=0, le=0.9, description="Share of each language's release that is real text.")
    corpora: list[RealTextCorpus] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "RealTextSettings":
        names = [c.name for c in self.corpora]
        if len(set(names)) != len(names):
            raise ValueError(f"corpora: names must be unique, got {names}")
        return self


class ExportSettings(_Strict):
    shard_rows: int = Field(default=10_000, ge=1, description="Rows per exported shard.")
    jsonl: bool = Field(default=False, description="Also write JSONL shards beside the Parquet ones.")
    charts: bool = True


class ReviewSettings(_Strict):
    per_stratum: int = Field(default=2, ge=1, description="Articles per domain x content type x template in the sample.")
    verdict_files: str = Field(default="reviews/*.csv", description="Glob, relative to configs/, of verdict CSVs.")
    min_accept_rate: float = Field(default=0.5, ge=0, le=1)
    min_reviews: int = Field(default=3, ge=1, description="Verdicts a template version needs before it can be left out.")


class BalanceSettings(_Strict):
    max_per_seed: int = Field(default=3, ge=1)
    max_per_template: int | None = Field(default=None, ge=1)
    max_per_language: int | None = Field(default=None, ge=1)
    min_quality_score: float = Field(default=0.0, ge=0, le=1)
    quotas: QuotaSettings = QuotaSettings()
    real_text: RealTextSettings = RealTextSettings()
    export: ExportSettings = ExportSettings()
    review: ReviewSettings = ReviewSettings()


# --- the whole project ------------------------------------------------------------------------


@dataclass(frozen=True)
class CosmoConfig:
    root: Path
    project: ProjectSettings
    languages: list[Language]
    domains: list[Domain]
    outlines: OutlineSettings
    model: ModelSettings
    filters: FilterSettings
    balance: BalanceSettings
    seeds: SeedSettings
    wikidata_vocabulary: WikidataVocabulary

    @property
    def enabled_languages(self) -> list[str]:
        return [lang.code for lang in self.languages if lang.enabled]

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(f"unknown domain {name!r}; configured: {self.domain_names}")

    def language(self, code: str) -> Language:
        for lang in self.languages:
            if lang.code == code:
                return lang
        raise KeyError(f"unknown language {code!r}")

    def knowledge_base_path(self, domain: str) -> Path:
        """The domain's first source file (the bundled JSONL for the shipped domains)."""
        return self.source_paths(domain)[0]

    def source_paths(self, domain: str) -> list[Path]:
        """Every file the domain's seeds are read from, in source order."""
        return [self.source_path(s) for s in self.domain(domain).all_sources]

    def source_path(self, source: CuratedJsonlSource | WikidataSource | TabularSource) -> Path:
        return (self.root / source.path).resolve()

    def template_path(self, template: str) -> Path:
        return self.root / "templates" / template

    def real_text_path(self, corpus: RealTextCorpus) -> Path:
        return (self.root / corpus.path).resolve()

    def verdict_files(self) -> list[Path]:
        """Review verdict CSVs (balance.yaml review.verdict_files, relative to configs/), in name order."""
        return sorted(Path(p) for p in glob.glob(str(self.root / self.balance.review.verdict_files)))

    def review_sample_path(self, language: str) -> Path:
        # Beside the export folder, not in it: the export folder is swapped whole on every release.
        return self.export_dir() / "review" / f"review_sample_{language}.csv"

    def benchmark_path(self, path: str) -> Path:
        return (self.root / path).resolve()

    def duckdb_path(self) -> Path:
        return _project_path(os.environ.get("COSMO_DUCKDB_PATH") or self.project.storage.duckdb_path)

    def export_dir(self) -> Path:
        return _project_path(os.environ.get("COSMO_EXPORT_DIR") or self.project.storage.export_dir)

    def llm_cache_path(self) -> Path:
        """The response cache's SQLite file (disk backend); beside the DuckDB file unless configured."""
        configured = self.model.cache.path
        return _project_path(configured) if configured else self.duckdb_path().parent / "llm_cache.sqlite"

    def llm_spend_path(self) -> Path:
        """The spend ledger that run budgets add up in, shared by every process of a run."""
        return self.duckdb_path().parent / "llm_spend.sqlite"


def _project_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _validate(model: type[BaseModel], path: Path, data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, (dict, list)) and got is not None else ""
            lines.append(f"{path}: field '{where}': {err['msg']}{got_text}")
        raise ConfigError("\n".join(lines)) from None


def _apply_env(model: ModelSettings) -> ModelSettings:
    overrides = {}
    if os.environ.get("COSMO_LLM_MODEL"):
        overrides["model"] = os.environ["COSMO_LLM_MODEL"]
    if os.environ.get("COSMO_LLM_API_BASE"):
        overrides["api_base"] = os.environ["COSMO_LLM_API_BASE"]
    return model.model_copy(update=overrides) if overrides else model


def _check_balance_names(
    path: Path, balance: BalanceSettings, root: Path, domains: list[Domain], outlines: OutlineSettings,
    languages: list[Language],
) -> None:
    """Quota keys and corpora must name things the other config files declare."""
    known = {
        "domain": [d.name for d in domains],
        "content_type": [c.id for c in outlines.content_types],
        "audience": [a.id for a in outlines.audiences],
        "topic_type": list(TOPIC_TYPES),
    }
    named = {f"quotas.{d}": (t, known[d]) for d, t in balance.quotas.targets().items() if isinstance(t, dict)}
    named["quotas.min_domain_share"] = (balance.quotas.min_domain_share, known["domain"])
    for field, (shares, allowed) in named.items():
        for key in shares:
            if key not in allowed:
                raise ConfigError(f"{path}: field '{field}.{key}': {key!r} is not configured; expected one of {allowed}")
    for i, corpus in enumerate(balance.real_text.corpora):
        if not (root / corpus.path).is_file():
            raise ConfigError(f"{path}: field 'real_text.corpora.{i}.path': file {root / corpus.path} not found")
        if corpus.language not in [lang.code for lang in languages]:
            raise ConfigError(f"{path}: field 'real_text.corpora.{i}.language': {corpus.language!r} is not declared in languages.yaml")
        if corpus.domain is not None and corpus.domain not in known["domain"]:
            raise ConfigError(
                f"{path}: field 'real_text.corpora.{i}.domain': {corpus.domain!r} is not configured; expected one of {known['domain']}"
            )


def load_config(config_dir: str | Path | None = None) -> CosmoConfig:
    """Load and validate every config file; raise ConfigError before anything runs."""
    root = Path(config_dir or os.environ.get("COSMO_CONFIG_DIR") or DEFAULT_CONFIG_DIR).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root}: config directory not found")

    def load(name: str, model: type[BaseModel]) -> Any:
        path = root / name
        return _validate(model, path, _read_yaml(path))

    project = load("project.yaml", ProjectSettings)
    languages = load("languages.yaml", LanguagesFile).languages
    outlines = load("outlines.yaml", OutlineSettings)
    model = _apply_env(load("model.yaml", ModelSettings))
    filters = load("filters.yaml", FilterSettings)
    balance = load("balance.yaml", BalanceSettings)

    seeds = load("seeds.yaml", SeedSettings)
    vocabulary = load("wikidata_properties.yaml", WikidataVocabulary)

    domain_files = sorted((root / "domains").glob("*.yaml"))
    if not domain_files:
        raise ConfigError(f"{root / 'domains'}: expected at least one domain file (*.yaml)")
    domains = []
    for path in domain_files:
        domain = _validate(Domain, path, _read_yaml(path))
        if domain.name != path.stem:
            raise ConfigError(f"{path}: field 'name': expected {path.stem!r} (the file name), got {domain.name!r}")
        if domain.knowledge_base and not (root / domain.knowledge_base).is_file():
            raise ConfigError(f"{path}: field 'knowledge_base': file {root / domain.knowledge_base} not found")
        for i, source in enumerate(domain.sources):
            if not (root / source.path).is_file():
                raise ConfigError(f"{path}: field 'sources.{i}.path': file {(root / source.path).resolve()} not found")
        domains.append(domain)

    outlines_path = root / "outlines.yaml"
    for i, bench in enumerate(filters.decontamination.benchmarks):
        path = root / bench.path
        if not path.is_file() or path.suffix not in (".jsonl", ".parquet"):
            raise ConfigError(
                f"{root / 'filters.yaml'}: field 'decontamination.benchmarks.{i}.path': "
                f"expected an existing .jsonl or .parquet file, got {path}"
            )
    unknown_shapes = sorted(set(filters.shapes) - {ct.id for ct in outlines.content_types})
    if unknown_shapes:
        raise ConfigError(
            f"{root / 'filters.yaml'}: field 'shapes': {unknown_shapes} are not content types in outlines.yaml "
            f"({[ct.id for ct in outlines.content_types]})"
        )

    for i, ct in enumerate(outlines.content_types):
        if not (root / "templates" / ct.template).is_file():
            raise ConfigError(
                f"{outlines_path}: field 'content_types.{i}.template': "
                f"template {root / 'templates' / ct.template} not found"
            )
    if outlines.model_outlines.enabled and not (root / "templates" / outlines.model_outlines.template).is_file():
        raise ConfigError(
            f"{outlines_path}: field 'model_outlines.template': "
            f"template {root / 'templates' / outlines.model_outlines.template} not found"
        )
    # Headings go into prompts, so each declared language needs its own.
    declared = [lang.code for lang in languages]
    for name, sections in outlines.structures.items():
        for j, section in enumerate(sections):
            missing = [code for code in declared if code not in section.heading]
            if missing:
                raise ConfigError(
                    f"{outlines_path}: field 'structures.{name}.{j}.heading': expected a heading for every "
                    f"language in languages.yaml, missing {missing}"
                )

    _check_balance_names(root / "balance.yaml", balance, root, domains, outlines, languages)

    return CosmoConfig(
        root=root,
        project=project,
        languages=languages,
        domains=domains,
        outlines=outlines,
        model=model,
        filters=filters,
        balance=balance,
        seeds=seeds,
        wikidata_vocabulary=vocabulary,
    )
