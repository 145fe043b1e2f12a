"""The one config loader: reads configs/*.yaml, validates with pydantic, fails naming file and field."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "configs"

TOPIC_TYPES = ("person", "concept", "event", "place", "organisation", "creative_work")


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


class Domain(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str = ""
    knowledge_base: str = Field(description="Path of the JSONL knowledge base, relative to configs/.")


# --- configs/outlines.yaml --------------------------------------------------------------------


class ContentType(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    template: str = Field(description="Jinja2 file under configs/templates/.")
    description: str
    weight: float = Field(default=1.0, gt=0)


class Audience(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    weight: float = Field(default=1.0, gt=0)


class Style(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    weight: float = Field(default=1.0, gt=0)


class OutlineSettings(_Strict):
    content_types: list[ContentType] = Field(min_length=1)
    audiences: list[Audience] = Field(min_length=1)
    styles: list[Style] = Field(min_length=1)
    sections: dict[str, list[str]] = Field(description="Section plan per topic type.")
    max_facts_in_prompt: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _checks(self) -> "OutlineSettings":
        for kind, items in (("content_types", self.content_types), ("audiences", self.audiences), ("styles", self.styles)):
            ids = [i.id for i in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{kind}: ids must be unique, got {ids}")
        missing = [t for t in TOPIC_TYPES if t not in self.sections]
        if missing:
            raise ValueError(f"sections: expected a section plan for every topic type, missing {missing}")
        return self


# --- configs/model.yaml -----------------------------------------------------------------------


class EmbeddedModelSettings(_Strict):
    n_parallel: int = Field(default=8, ge=1)
    n_threads: int = Field(default=2, ge=1)
    context_per_slot: int = Field(default=2048, ge=256)
    repeat_penalty: float = Field(default=1.1, ge=1.0)


class ModelSettings(_Strict):
    model: str = "embedded/smollm2-135m-instruct"
    api_base: str | None = None
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_in_flight: int | None = Field(
        default=None, ge=1, description="Requests in flight; default is the model's slot count (embedded) or 16."
    )
    timeout_s: float = Field(default=300, gt=0)
    max_failed_share: float = Field(default=0.2, ge=0, le=1)
    system_prompt: str = "You are a knowledgeable writer of clear, accurate educational text."
    embedded: EmbeddedModelSettings = EmbeddedModelSettings()

    @property
    def is_embedded(self) -> bool:
        return self.model.startswith("embedded/")

    @property
    def in_flight(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        return self.embedded.n_parallel if self.is_embedded else 16

    def generation_params(self) -> dict[str, Any]:
        """The parameters that change a completion: part of every draft id."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}


# --- configs/filters.yaml ---------------------------------------------------------------------


class FilterSettings(_Strict):
    min_words: int = Field(default=100, ge=0)
    max_words: int = Field(default=2000, ge=1)
    max_duplicate_line_share: float = Field(default=0.3, ge=0, le=1)
    max_top_trigram_share: float = Field(default=0.12, ge=0, le=1)
    max_duplicate_5gram_share: float = Field(default=0.35, ge=0, le=1)
    min_language_confidence: float = Field(default=0.6, ge=0, le=1)
    min_kept_share: float = Field(default=0.2, ge=0, le=1, description="Below this the filter's check fails.")

    @model_validator(mode="after")
    def _bounds(self) -> "FilterSettings":
        if self.min_words >= self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must be below max_words ({self.max_words})")
        return self


# --- configs/balance.yaml ---------------------------------------------------------------------


class BalanceSettings(_Strict):
    max_per_seed: int = Field(default=3, ge=1)
    max_per_language: int | None = Field(default=None, ge=1)
    min_quality_score: float = Field(default=0.0, ge=0, le=1)
    shard_rows: int = Field(default=10_000, ge=1, description="Rows per exported Parquet shard.")


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
        return (self.root / self.domain(domain).knowledge_base).resolve()

    def template_path(self, template: str) -> Path:
        return self.root / "templates" / template

    def duckdb_path(self) -> Path:
        return _project_path(os.environ.get("COSMO_DUCKDB_PATH") or self.project.storage.duckdb_path)

    def export_dir(self) -> Path:
        return _project_path(os.environ.get("COSMO_EXPORT_DIR") or self.project.storage.export_dir)


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

    domain_files = sorted((root / "domains").glob("*.yaml"))
    if not domain_files:
        raise ConfigError(f"{root / 'domains'}: expected at least one domain file (*.yaml)")
    domains = []
    for path in domain_files:
        domain = _validate(Domain, path, _read_yaml(path))
        if domain.name != path.stem:
            raise ConfigError(f"{path}: field 'name': expected {path.stem!r} (the file name), got {domain.name!r}")
        if not (root / domain.knowledge_base).is_file():
            raise ConfigError(f"{path}: field 'knowledge_base': file {root / domain.knowledge_base} not found")
        domains.append(domain)

    for i, ct in enumerate(outlines.content_types):
        if not (root / "templates" / ct.template).is_file():
            raise ConfigError(
                f"{root / 'outlines.yaml'}: field 'content_types.{i}.template': "
                f"template {root / 'templates' / ct.template} not found"
            )

    return CosmoConfig(
        root=root,
        project=project,
        languages=languages,
        domains=domains,
        outlines=outlines,
        model=model,
        filters=filters,
        balance=balance,
    )
