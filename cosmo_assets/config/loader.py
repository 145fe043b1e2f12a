"""The one config loader: reads configs/*.yaml, validates with pydantic, fails naming file and field."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cosmo_assets.config.balance import BalanceSettings, RealTextCorpus
from cosmo_assets.config.base import DEFAULT_CONFIG_DIR, PROJECT_ROOT, TOPIC_TYPES, ConfigError
from cosmo_assets.config.domains import Domain, SourceSettings
from cosmo_assets.config.filters import FilterSettings
from cosmo_assets.config.languages import Language, LanguagesFile
from cosmo_assets.config.model import ModelSettings
from cosmo_assets.config.outlines import OutlineSettings
from cosmo_assets.config.project import ProjectSettings
from cosmo_assets.config.seeds import SeedSettings
from cosmo_assets.config.wikidata_properties import WikidataVocabulary


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

    def source_paths(self, domain: str) -> list[Path]:
        """Every file the domain's seeds are read from, in source order."""
        return [self.source_path(s) for s in self.domain(domain).all_sources]

    def source_path(self, source: SourceSettings) -> Path:
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

    def ducklake_data_path(self) -> str:
        configured = self.project.storage.ducklake_data_path
        return configured if "://" in configured else str(_project_path(configured))

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


# libyaml's loader where PyYAML has it (its wheels do): every process that loads the definitions reads the
# configs, and the pure-Python loader took a tenth of a second of that.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
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


_STORAGE_ENV = {"backend": "COSMO_STORAGE_BACKEND", "ducklake_catalog": "COSMO_DUCKLAKE_CATALOG", "ducklake_data_path": "COSMO_DUCKLAKE_DATA_PATH"}


def _apply_project_env(path: Path, project: ProjectSettings) -> ProjectSettings:
    """Team mode flips storage with environment variables (docs/deploy.md), validated like the file."""
    overrides = {field: os.environ[env] for field, env in _STORAGE_ENV.items() if os.environ.get(env)}
    if not overrides:
        return project
    return _validate(ProjectSettings, path, {**project.model_dump(), "storage": {**project.storage.model_dump(), **overrides}})


def _apply_env(model: ModelSettings) -> ModelSettings:
    overrides = {}
    if os.environ.get("COSMO_LLM_CACHE_BACKEND"):  # team mode: one Redis cache and ledger for every worker
        overrides["cache"] = model.cache.model_copy(update={"backend": os.environ["COSMO_LLM_CACHE_BACKEND"]})
        if overrides["cache"].backend not in ("disk", "redis", "off"):
            raise ConfigError(f"$COSMO_LLM_CACHE_BACKEND: expected disk, redis or off, got {overrides['cache'].backend!r}")
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


def _check_files(root: Path, domains: list[Domain], outlines: OutlineSettings, languages: list[Language],
                 balance: BalanceSettings, seeds: SeedSettings) -> None:
    """What only the named files can tell (config/source_checks.py), still before anything is written."""
    from cosmo_assets.config import source_checks

    reads_documents = any(s.kind == "documents" for d in domains for s in d.sources)
    if reads_documents and not (root / "templates" / seeds.documents.template).is_file():
        raise ConfigError(f"{root / 'seeds.yaml'}: field 'documents.template': template "
                          f"{root / 'templates' / seeds.documents.template} not found")
    source_checks.check_templates(root, outlines, languages, seeds.documents.template if reads_documents else None)
    for domain in domains:
        for i, source in enumerate(domain.sources):
            where = f"{root / 'domains' / domain.name}.yaml: field 'sources.{i}.path'"
            if source.kind in ("csv", "parquet"):
                source_checks.check_tabular_header(where, (root / source.path).resolve(), source)
            elif source.kind == "wikidata":
                source_checks.check_wikidata_dump(where, (root / source.path).resolve())
            elif source.kind == "documents":
                source_checks.check_documents_file(where, (root / source.path).resolve())
    names = [d.name for d in domains]
    for i, corpus in enumerate(balance.real_text.corpora):
        where = f"{root / 'balance.yaml'}: field 'real_text.corpora.{i}'"
        source_checks.check_real_text_domains(where, (root / corpus.path).resolve(), corpus.domain, names)


# Each file under configs/ and the model that reads it; domains/*.yaml are read one file per Domain.
FILE_MODELS: dict[str, type[BaseModel]] = {
    "project.yaml": ProjectSettings,
    "languages.yaml": LanguagesFile,
    "outlines.yaml": OutlineSettings,
    "model.yaml": ModelSettings,
    "filters.yaml": FilterSettings,
    "balance.yaml": BalanceSettings,
    "seeds.yaml": SeedSettings,
    "wikidata_properties.yaml": WikidataVocabulary,
}


def load_config(config_dir: str | Path | None = None) -> CosmoConfig:
    """Load and validate every config file; raise ConfigError before anything runs."""
    root = Path(config_dir or os.environ.get("COSMO_CONFIG_DIR") or DEFAULT_CONFIG_DIR).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root}: config directory not found")
    files = {name: _validate(model, root / name, _read_yaml(root / name)) for name, model in FILE_MODELS.items()}
    languages = files["languages.yaml"].languages
    outlines, filters, balance = files["outlines.yaml"], files["filters.yaml"], files["balance.yaml"]
    domains = _load_domains(root)
    _check_filters(root, filters, outlines)
    _check_outlines(root, outlines, languages)
    _check_balance_names(root / "balance.yaml", balance, root, domains, outlines, languages)
    _check_documents(root / "seeds.yaml", files["seeds.yaml"], domains)
    _check_files(root, domains, outlines, languages, balance, files["seeds.yaml"])
    return CosmoConfig(
        root=root,
        project=_apply_project_env(root / "project.yaml", files["project.yaml"]),
        languages=languages,
        domains=domains,
        outlines=outlines,
        model=_apply_env(files["model.yaml"]),
        filters=filters,
        balance=balance,
        seeds=files["seeds.yaml"],
        wikidata_vocabulary=files["wikidata_properties.yaml"],
    )


def _check_documents(path: Path, seeds: SeedSettings, domains: list[Domain]) -> None:
    """When a domain reads documents, keyword rules and cluster domains of seeds.yaml `documents` name
    configured domains (without one the section is inert: a config with other domains still loads)."""
    names = [d.name for d in domains]
    documents = seeds.documents
    readers = [d.name for d in domains if any(s.kind == "documents" for s in d.sources)]
    if not readers:
        return
    named = [(f"documents.keyword_rules.{d}", d) for d in documents.keyword_rules]
    named += [(f"documents.clusters.domains.{c}", d) for c, d in documents.clusters.domains.items()]
    for field, domain in named:
        if domain not in names:
            raise ConfigError(f"{path}: field '{field}': {domain!r} is not a configured domain; expected one of {names}")
    if documents.assign == "keywords" and not documents.keyword_rules:
        raise ConfigError(f"{path}: field 'documents.keyword_rules': domains {readers} read documents and assign is "
                          "'keywords': expected a list of words for at least one domain (or assign: clusters)")


def _load_domains(root: Path) -> list[Domain]:
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
    return domains


def _check_filters(root: Path, filters: FilterSettings, outlines: OutlineSettings) -> None:
    """Benchmark files exist; shape rules name content types of outlines.yaml."""
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


def _check_outlines(root: Path, outlines: OutlineSettings, languages: list[Language]) -> None:
    """Templates exist; every section heading has each declared language (headings go into prompts)."""
    outlines_path = root / "outlines.yaml"
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
    declared = [lang.code for lang in languages]
    for name, sections in outlines.structures.items():
        for j, section in enumerate(sections):
            missing = [code for code in declared if code not in section.heading]
            if missing:
                raise ConfigError(
                    f"{outlines_path}: field 'structures.{name}.{j}.heading': expected a heading for every "
                    f"language in languages.yaml, missing {missing}"
                )
