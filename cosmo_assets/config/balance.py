"""configs/balance.yaml: quotas, the real-text mix, export and review settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cosmo_assets.config.base import StrictModel

# A quota target: "even" (equal shares among the values that have candidates), a map of shares that
# sum to 1, or None (no target for that dimension).
ShareTarget = Literal["even"] | dict[str, float] | None
# The columns a release is balanced on; each is a field of QuotaSettings below (the one place they are
# listed besides their own field), and a column of the release_candidates and balance_composition models.
QUOTA_DIMENSIONS = ("domain", "content_type", "audience", "topic_type")


class QuotaSettings(StrictModel):
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

    @field_validator(*QUOTA_DIMENSIONS, mode="before")
    @classmethod
    def _one_of_three(cls, v: Any) -> Any:
        if v is not None and v != "even" and not isinstance(v, dict):
            raise ValueError("expected 'even', a map of value: share that sums to 1, or null")
        return v

    @field_validator(*QUOTA_DIMENSIONS)
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


class RealTextCorpus(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    path: str = Field(description="Parquet or JSONL file, relative to configs/; one text per row (column `text`).")
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    domain: str | None = Field(default=None, description="Domain of every row; a row's own `domain` column wins.")
    content_type: str = "real_text"
    audience: str = "general_public"
    license: str = Field(description="Licence of the texts, shown in the dataset card.")


class RealTextSettings(StrictModel):
    share: float = Field(default=0.0, ge=0, le=0.9, description="Share of each language's release that is real text.")
    corpora: list[RealTextCorpus] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RealTextSettings:
        names = [c.name for c in self.corpora]
        if len(set(names)) != len(names):
            raise ValueError(f"corpora: names must be unique, got {names}")
        return self


REPHRASE_FORMATS = ("question_answer", "encyclopedic", "tutorial", "dialogue", "simplified")
# What the stage rewrites: the partition's kept articles, the real_text corpora's texts of its domain and
# language, and its document seeds (sources of kind `documents`).
REPHRASE_SOURCES = ("articles", "real_text", "documents")


class RephraseSettings(StrictModel):
    """The rephrased_articles stage: kept articles and real-text documents rewritten in other formats
    (templates/rephrase/<format>.j2), checked by the filter gates against their source, and mixed into each
    release at `share`."""

    share: float = Field(default=0.0, ge=0, le=0.9, description="Share of each release that is rephrased text; 0: no model call.")
    formats: list[Literal[REPHRASE_FORMATS]] = Field(default_factory=lambda: list(REPHRASE_FORMATS))  # type: ignore[valid-type]
    per_article: int = Field(default=1, ge=1, description="Rephrasings per source text, each in another format.")
    sources: list[Literal[REPHRASE_SOURCES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["articles"], description="What is rewritten: articles, real_text, documents.")

    @model_validator(mode="after")
    def _formats(self) -> RephraseSettings:
        if not self.formats:
            raise ValueError("formats: expected at least one of " + ", ".join(REPHRASE_FORMATS))
        if not self.sources or len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources: expected distinct values among {', '.join(REPHRASE_SOURCES)}, got {self.sources}")
        if self.per_article > len(self.formats):
            raise ValueError(f"per_article ({self.per_article}) must not exceed the formats listed ({len(self.formats)})")
        return self


class ExportSettings(StrictModel):
    shard_rows: int = Field(default=10_000, ge=1, description="Rows per exported shard.")
    jsonl: bool = Field(default=False, description="Also write JSONL shards beside the Parquet ones.")
    charts: bool = True
    license: str = Field(
        default="apache-2.0",
        description="Licence of the exported dataset (a Hub licence id), in the card's front matter and its Licence section.",
    )


class ReviewSettings(StrictModel):
    per_stratum: int = Field(default=2, ge=1, description="Articles per domain x content type x template in the sample.")
    rejected_per_stratum: int = Field(
        default=1, ge=0, description="Rejected drafts per domain x content type x template in the sample (false rejections)."
    )
    verdict_files: str = Field(default="reviews/*.csv", description="Glob, relative to configs/, of verdict CSVs.")
    min_accept_rate: float = Field(default=0.5, ge=0, le=1)
    min_reviews: int = Field(default=3, ge=1, description="Verdicts a template version needs before it can be left out.")


class BalanceSettings(StrictModel):
    max_per_seed: int = Field(default=3, ge=1)
    max_per_template: int | None = Field(default=None, ge=1)
    max_per_language: int | None = Field(default=None, ge=1)
    min_quality_score: float = Field(default=0.0, ge=0, le=1)
    quotas: QuotaSettings = QuotaSettings()
    real_text: RealTextSettings = RealTextSettings()
    rephrased: RephraseSettings = RephraseSettings()
    export: ExportSettings = ExportSettings()
    review: ReviewSettings = ReviewSettings()

    @model_validator(mode="after")
    def _mix_fits(self) -> BalanceSettings:
        if self.real_text.share + self.rephrased.share > 0.9:
            raise ValueError(f"real_text.share ({self.real_text.share}) + rephrased.share ({self.rephrased.share}) must not "
                             "exceed 0.9: the rest of a release is the generated articles")
        return self
