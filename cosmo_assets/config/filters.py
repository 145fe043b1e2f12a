"""configs/filters.yaml: thresholds of the quality, language, shape, fact, dedup and judge filters."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pydantic import Field, model_validator

from cosmo_assets.config.base import StrictModel

# The n-gram sizes the repetition scores are computed for: one score column each (storage.SCORE_COLUMNS),
# one threshold each below. The one place these sizes are written.
TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)


class ShapeRule(StrictModel):
    """What an article of one content type must look like (filters.yaml `shapes`)."""

    min_paragraphs: int = Field(default=1, ge=0)
    min_numbered_lines: int = Field(default=0, ge=0, description="Lines starting '1.', 'Step 2', '-' or '*'.")
    max_list_line_share: float = Field(default=1.0, ge=0, le=1)
    min_speech_marks: int = Field(default=0, ge=0, description="Quotation marks, for dialogue.")
    min_questions: int = Field(default=0, ge=0, description="Sentences ending in a question mark (a forum question).")
    min_posts: int = Field(default=0, ge=0, description="Paragraphs or posts: a question and its answers.")


class DedupSettings(StrictModel):
    """MinHash LSH with explicit parameters: a pair of similarity s becomes a candidate with probability
    1 - (1 - s^rows)^bands, then its exact shingle Jaccard decides."""

    shingle_words: int = Field(default=5, ge=1)
    num_perm: int = Field(default=128, ge=8, le=1024)
    bands: int = Field(default=20, ge=1)
    rows: int = Field(default=6, ge=1)
    threshold: float = Field(default=0.8, gt=0, le=1, description="Exact Jaccard of word shingles.")
    seed: int = Field(default=1, ge=0, description="Seed of the permutations; the stored index depends on it.")

    @model_validator(mode="after")
    def _fits(self) -> DedupSettings:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands} x {self.rows}) must not exceed num_perm ({self.num_perm})")
        return self


class BenchmarkFile(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    path: str = Field(description="JSONL or Parquet file, relative to configs/.")
    text_field: str = "question"
    id_field: str | None = Field(default=None, description="Item id column; the row number when absent.")


class DecontaminationSettings(StrictModel):
    ngram_words: int = Field(default=10, ge=1)
    min_overlap: float = Field(
        default=0.5, ge=0, lt=1, description="Confirmed when more than this share of an item's words is matched."
    )
    benchmarks: list[BenchmarkFile] = []


class JudgeSettings(StrictModel):
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


def _default_stock_phrases() -> dict[str, list[str]]:
    return {
        "en": ["one of the most", "testament to", "groundbreaking", "rich tapestry", "delve into", "in today's world",
               "plays a crucial role", "stands as a", "a true marvel", "in conclusion"],
        "fr": ["l'un des plus", "témoigne de", "révolutionnaire", "riche tapisserie", "joue un rôle crucial", "en conclusion"],
        "es": ["uno de los más", "testimonio de", "revolucionario", "rico tapiz", "desempeña un papel crucial", "en conclusión"],
        "de": ["einer der bedeutendsten", "zeugnis von", "bahnbrechend", "reiches geflecht", "spielt eine entscheidende rolle",
               "zusammenfassend"],
    }


class DiversityFloors(StrictModel):
    """Where a partition's variety is too low: a `min_` floor warns below it, a `max_` ceiling above it; null: not judged."""

    min_distinct_4gram_share: float | None = Field(default=0.5, ge=0, le=1)
    max_mean_pairwise_minhash_similarity: float | None = Field(default=0.3, ge=0, le=1)
    max_opening_repetition: float | None = Field(default=0.5, ge=0, le=1)
    max_stock_phrase_rate: float | None = Field(default=2.0, ge=0, description="Stock phrases per 1,000 words.")


class DiversitySettings(StrictModel):
    """The diversity figures of drafts and releases (cosmo_assets/diversity.py) and the floors their WARN checks hold."""

    opening_words: int = Field(default=5, ge=1, description="An opening is the first this many words of a text.")
    min_texts: int = Field(default=5, ge=2, description="Partitions with fewer texts are reported, not judged.")
    floors: DiversityFloors = DiversityFloors()
    stock_phrases: dict[str, list[str]] = Field(default_factory=_default_stock_phrases)

    def phrases(self, language: str) -> list[str]:
        return self.stock_phrases.get(language, [])


# What a model's own settings may change: how much of its outline and facts a draft must cover.
OVERRIDABLE = frozenset({"min_section_coverage", "min_fact_coverage", "max_unsupported_claims", "shapes", "min_kept_share"})


class FilterSettings(StrictModel):
    min_words: int = Field(default=100, ge=0)
    max_words: int = Field(default=2000, ge=1)
    min_mean_word_length: float = Field(default=3.0, ge=0)
    max_mean_word_length: float = Field(default=10.0, gt=0)
    max_symbol_word_ratio: float = Field(default=0.1, ge=0)
    min_punctuated_line_share: float = Field(default=0.12, ge=0, le=1)
    max_duplicate_line_share: float = Field(default=0.3, ge=0, le=1)
    max_top_ngram_share: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    max_duplicate_ngram_share: dict[int, float] = Field(
        default_factory=lambda: {5: 0.25, 6: 0.24, 7: 0.23, 8: 0.22, 9: 0.21, 10: 0.20}
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
    diversity: DiversitySettings = DiversitySettings()
    min_kept_share: float = Field(default=0.2, ge=0, le=1, description="Below this the filter's check fails.")
    chunk_rows: int = Field(
        default=20_000, ge=1, description="Drafts scored at once: peak memory follows this, not the partition's size."
    )
    # Only the coverage thresholds and the expected yield may differ per model: the wrapper, truncation, echo,
    # contradiction and quality gates hold for every model, so a release never carries chatter, a cut-off
    # draft, an echoed prompt or a misstated fact.
    model_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "embedded/*": {
                "min_section_coverage": 0.25, "min_fact_coverage": 0.2, "max_unsupported_claims": 0.9, "min_kept_share": 0.0,
            }
        },
        description="Per model (an fnmatch pattern of the model string): coverage thresholds meant for that model.",
    )

    def for_model(self, model: str) -> FilterSettings:
        """These settings with the overrides of every pattern that matches `model` applied, in file order."""
        values = self.model_dump(exclude={"model_overrides"})
        for pattern, override in self.model_overrides.items():
            if fnmatchcase(model, pattern):
                values.update(override)
        return FilterSettings.model_validate(values)

    @model_validator(mode="after")
    def _overrides(self) -> FilterSettings:
        for pattern, override in self.model_overrides.items():
            wrong = sorted(set(override) - OVERRIDABLE)
            if wrong:
                raise ValueError(f"model_overrides[{pattern!r}]: {wrong} cannot differ per model; expected some of {sorted(OVERRIDABLE)}")
        return self

    @model_validator(mode="after")
    def _bounds(self) -> FilterSettings:
        if self.min_words >= self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must be below max_words ({self.max_words})")
        if self.min_mean_word_length >= self.max_mean_word_length:
            raise ValueError("min_mean_word_length must be below max_mean_word_length")
        for name, sizes in (("max_top_ngram_share", list(TOP_NGRAM_SIZES)), ("max_duplicate_ngram_share", list(DUPLICATE_NGRAM_SIZES))):
            got = sorted(getattr(self, name))
            if got != sizes:
                raise ValueError(f"{name}: expected one threshold for each n-gram size {sizes}, got {got}")
            bad = {n: v for n, v in getattr(self, name).items() if not 0 <= v <= 1}
            if bad:
                raise ValueError(f"{name}: thresholds must be between 0 and 1, got {bad}")
        return self
