"""Input fingerprints: what each stage of a partition is made from, hashed part by part, so a change shows.

A fingerprint lists the inputs a stage reads besides its upstream stage: the seed file, the domain's
config, the templates, the model and generation settings, the filter and balance settings, and the
stage's own code. Each part keeps its digest and where it came from, so a changed part can be named
("configs/domains/science.yaml changed"). Operational settings that do not change what a row says
(requests in flight, timeouts, where the model is served) are left out: changing them must not cost
a re-run. Knows nothing of Dagster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cosmo_assets.config import PROJECT_ROOT, CosmoConfig
from cosmo_assets.config.base import SQL_DIR
from cosmo_assets.ids import content_hash
from cosmo_assets.stage_code import STAGE_MODULES, code_version

# The stages in graph order, and the dimensions each is partitioned by.
PER_DOMAIN_STAGES = ("seeds", "outlines", "drafts", "filtered_articles", "rephrased_articles")
PER_LANGUAGE_STAGES = ("balanced_dataset", "dataset_export")
STAGES = PER_DOMAIN_STAGES + PER_LANGUAGE_STAGES

# The stages each stage reads, looking through the release's SQL models (as the asset graph has them;
# test_definitions checks they agree), so `stale` can judge without building the Definitions.
STAGE_PARENTS: dict[str, tuple[str, ...]] = {
    "seeds": (),
    "outlines": ("seeds",),
    "drafts": ("outlines",),
    "filtered_articles": ("drafts",),
    "rephrased_articles": ("filtered_articles",),
    "balanced_dataset": ("drafts", "filtered_articles", "outlines", "rephrased_articles"),
    "dataset_export": ("balanced_dataset", "drafts", "filtered_articles", "outlines", "rephrased_articles"),
}

# Tables each stage writes: their rows are the stage's output, so their digest is its data version.
STAGE_TABLES: dict[str, tuple[str, ...]] = {
    "seeds": ("seeds", "seed_quarantine", "document_clusters"),
    "outlines": ("outlines",),
    "drafts": ("drafts",),
    "filtered_articles": ("filtered_articles", "rejected_drafts"),
    "rephrased_articles": ("rephrased_articles",),
    "balanced_dataset": ("balanced_dataset",),
    "dataset_export": (),
}

# Model settings that decide where and how fast requests go, not what comes back.
_OPERATIONAL_MODEL_FIELDS = {"api_base", "max_in_flight", "adaptive", "mode", "batch", "price", "timeout_s", "max_failed_share"}
_OPERATIONAL_EMBEDDED_FIELDS = {"n_parallel", "n_threads"}


@dataclass(frozen=True)
class InputPart:
    """One input of a stage: its name, where it comes from (a file or a setting), and its digest."""

    name: str
    source: str
    digest: str


@dataclass(frozen=True)
class Fingerprint:
    stage: str
    parts: tuple[InputPart, ...]

    @property
    def digest(self) -> str:
        return content_hash(self.stage, sorted((p.name, p.digest) for p in self.parts))

    def digests(self) -> dict[str, str]:
        return {p.name: p.digest for p in self.parts}


# Judge at the configured size (configs/project.yaml run.seeds_per_partition): what the nightly
# schedule, the sensor and `stale` without --seeds/--full do.
CONFIGURED = "configured"


def fingerprint(
    config: CosmoConfig, stage: str, partition: Mapping[str, str], seed_limit: int | str | None
) -> Fingerprint:
    """The inputs `stage` reads for `partition` ({"domain", "language"} or {"language"}) under `config`.

    `seed_limit` is the seeds drawn per partition (None: every seed), as a run records it or as a judge
    asks with --seeds/--full; CONFIGURED judges at the configured size. A run records its own size
    (`run_size`), but a partition is judged on it only when a size is asked for: a `run --seeds 4` does
    not make partitions stale for the nightly, which judges by the configured size and the random seed.
    """
    entries = ", ".join(f"cosmo_assets/{m}" for m in STAGE_MODULES[stage])
    parts = [InputPart("code", f"{entries} and the modules they import", code_version(stage))]
    root = config.root

    def shown(path: Path) -> str:  # as a user reads it: configs/...
        return _relative(path, root.parent)
    if stage == "seeds":
        domain = config.domain(partition["domain"])
        sources = config.source_paths(domain.name)
        parts += [
            InputPart("sources", ", ".join(shown(p) for p in sources),
                      content_hash([(shown(p), _path_digest(p)) for p in sources])),
            InputPart("domain_config", shown(root / "domains" / f"{domain.name}.yaml"),
                      content_hash(domain.model_dump(mode="json"))),
            InputPart("seed_settings", shown(root / "seeds.yaml"), content_hash(config.seeds.model_dump(mode="json"))),
            *_seed_sample(config, seed_limit),
        ]
        if any(s.kind == "wikidata" for s in domain.all_sources):
            parts.append(InputPart("wikidata_properties", shown(root / "wikidata_properties.yaml"),
                                   content_hash(config.wikidata_vocabulary.model_dump(mode="json"))))
    elif stage == "outlines":
        from cosmo_assets.outlining.templates import TemplateLibrary, target_words  # jinja2 only, no stage libraries

        library = TemplateLibrary(root / "templates")
        settings = config.outlines
        templates = sorted({ct.template for ct in settings.content_types}
                           | ({settings.model_outlines.template} if settings.model_outlines.enabled else set())
                           | ({config.seeds.documents.template} if _reads_documents(config) else set()))
        parts += [
            InputPart("outline_settings", shown(root / "outlines.yaml"), content_hash(settings.model_dump(mode="json"))),
            InputPart("random_seed", f"{shown(root / 'project.yaml')} run.random_seed",
                      content_hash(config.project.run.random_seed)),
            # One part per template: a partition records only those its outlines drew (drawn_templates_only).
            *(InputPart(f"{TEMPLATE}{t}", shown(root / "templates" / t), library.version(t)) for t in templates),
            InputPart("language", shown(root / "languages.yaml"),
                      content_hash(config.language(partition["language"]).model_dump(mode="json"))),
            InputPart("target_words", f"{shown(root / 'outlines.yaml')} target_words, {shown(root / 'model.yaml')} max_tokens",
                      content_hash({ct.id: target_words(config, ct) for ct in settings.content_types})),
        ]
        if settings.model_outlines.enabled:  # the model proposes outlines: what it is and how it samples count
            parts.append(InputPart("model", shown(root / "model.yaml") + " (and COSMO_LLM_MODEL)",
                                   content_hash(generation_settings(config))))
    elif stage == "drafts":
        parts.append(InputPart("model", shown(root / "model.yaml") + " (and COSMO_LLM_MODEL)",
                               content_hash(generation_settings(config))))
    elif stage == "filtered_articles":
        parts += [
            # chunk_rows sets memory, not decisions (the same rows are kept for any value): not an input.
            InputPart("filter_settings", shown(root / "filters.yaml"),
                      content_hash(config.filters.model_dump(mode="json", exclude={"chunk_rows", "diversity"}))),
        ]
    elif stage == "rephrased_articles":
        parts += _rephrase_parts(config, shown, partition)
    elif stage == "balanced_dataset":
        parts += [
            InputPart("balance_settings", shown(root / "balance.yaml"),
                      content_hash(config.balance.model_dump(mode="json"))),
            InputPart("sql_models", _relative(SQL_DIR, PROJECT_ROOT), _path_digest(SQL_DIR)),
        ]
    elif stage == "dataset_export":
        parts += [
            InputPart("export_settings", f"{shown(root / 'balance.yaml')} export, export directory",
                      content_hash(config.balance.export.model_dump(mode="json"), str(config.export_dir()))),
        ]
    else:
        raise KeyError(f"unknown stage {stage!r}; expected one of {list(STAGES)}")
    return Fingerprint(stage, tuple(parts))


def _rephrase_parts(config: CosmoConfig, shown, partition: Mapping[str, str]) -> list[InputPart]:
    from cosmo_assets.stages.rephrasing import TEMPLATE_DIR

    root = config.root
    settings = config.balance.rephrased
    parts = [
        InputPart("rephrase_settings", f"{shown(root / 'balance.yaml')} rephrased",
                  content_hash(settings.model_dump(mode="json"))),
        InputPart("rephrase_templates", shown(root / "templates" / TEMPLATE_DIR), _path_digest(root / "templates" / TEMPLATE_DIR)),
        InputPart("model", shown(root / "model.yaml") + " (and COSMO_LLM_MODEL)", content_hash(generation_settings(config))),
        InputPart("filter_settings", shown(root / "filters.yaml"),
                  content_hash(config.filters.model_dump(mode="json", exclude={"chunk_rows", "diversity"}))),
    ]
    # The real-text documents it rewrites (read only with a share): the language's corpora, the domain's
    # documents files, and the extract window and facts both are quoted and held to.
    wanted = set(settings.sources) if settings.share else set()
    if "real_text" in wanted:
        corpora = [config.real_text_path(c) for c in config.balance.real_text.corpora if c.language == partition["language"]]
        parts.append(InputPart("real_text", ", ".join(shown(p) for p in corpora) or "no corpus",
                               content_hash([(shown(p), _path_digest(p)) for p in corpora])))
    if "documents" in wanted:
        files = [config.source_path(s) for s in config.domain(partition["domain"]).all_sources if s.kind == "documents"]
        parts.append(InputPart("documents", ", ".join(shown(p) for p in files) or "no documents source",
                               content_hash([(shown(p), _path_digest(p)) for p in files])))
    if wanted & {"real_text", "documents"}:
        extract = config.seeds.documents.model_dump(mode="json", include={"extract_chars", "extract_start_chars", "max_facts"})
        parts.append(InputPart("document_extract", f"{shown(root / 'seeds.yaml')} documents", content_hash(extract)))
    return parts


def _reads_documents(config: CosmoConfig) -> bool:
    return any(s.kind == "documents" for d in config.domains for s in d.all_sources)


def _seed_sample(config: CosmoConfig, seed_limit: int | str | None) -> list[InputPart]:
    project = _relative(config.root / "project.yaml", config.root.parent)
    configured = config.project.run.seeds_per_partition
    parts = [
        InputPart("seed_sample_size", f"{project} run.seeds_per_partition ({configured or 'all'})", content_hash(configured)),
        InputPart("random_seed", f"{project} run.random_seed", content_hash(config.project.run.random_seed)),
    ]
    if seed_limit != CONFIGURED:
        parts.append(InputPart(RUN_SIZE, f"seeds per partition asked for ({seed_limit or 'all'})", content_hash(seed_limit)))
    return parts


RUN_SIZE = "run_size"
TEMPLATE = "template "


def drawn_templates_only(inputs: Fingerprint, drawn: set[str], always: set[str]) -> Fingerprint:
    """The outlines' fingerprint as a partition records it: only the templates its outlines drew (and
    `always`, the model-outline template), so an edit to a template stales only the partitions using it."""
    kept = [p for p in inputs.parts if not p.name.startswith(TEMPLATE) or p.name[len(TEMPLATE):] in drawn | always]
    return Fingerprint(inputs.stage, tuple(kept))


def generation_settings(config: CosmoConfig) -> dict:
    """The model settings that change what a completion says."""
    settings = config.model.model_dump(mode="json")
    embedded = {k: v for k, v in settings.pop("embedded").items() if k not in _OPERATIONAL_EMBEDDED_FIELDS}
    kept = {k: v for k, v in settings.items() if k not in _OPERATIONAL_MODEL_FIELDS}
    if config.model.is_embedded:
        kept["embedded"] = embedded
    return kept


def changed_inputs(recorded: Mapping[str, str], current: Fingerprint) -> list[str]:
    """Why a partition made with `recorded` digests is out of date against `current`: one line per input."""
    if not recorded:
        return ["made before input fingerprints were recorded"]
    reasons = []
    for part in current.parts:
        if part.name == RUN_SIZE and recorded.get(RUN_SIZE) != part.digest:
            reasons.append(f"made at another size than the {part.source}")
        elif part.name not in recorded:
            if not part.name.startswith(TEMPLATE):  # a template this partition's outlines did not draw
                reasons.append(f"new input {part.name} ({part.source})")
        elif recorded[part.name] != part.digest:
            reasons.append(f"code of {current.stage} changed ({part.source})" if part.name == "code" else f"{part.source} changed")
    # A run's own size is compared only when the judge asks for a size (see fingerprint).
    reasons += [f"input {name} no longer used" for name in recorded if name not in current.digests() and name != RUN_SIZE]
    return reasons


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _path_digest(path: Path) -> str:
    """A file's bytes, or every file under a folder (names and bytes), hashed."""
    if path.is_dir():
        return _files_digest(sorted(p for p in path.rglob("*") if p.is_file()), path)
    if not path.exists():
        return "missing"
    return _files_digest([path], path.parent)


def _files_digest(paths: list[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(b"\0")
        digest.update(_file_digest(path))
    return digest.hexdigest()[:16]


_digests: dict[tuple[str, int, int], bytes] = {}


# Past this size a file is known by its size and modification time, not its bytes: hashing a full
# Wikidata dump (over 100 GB compressed) would cost every run process that fingerprints it longer
# than the scan of the dump itself. The extract is keyed the same way.
LARGE_FILE_BYTES = 1 << 30


def _file_digest(path: Path) -> bytes:
    # The sensor fingerprints every partition each minute: a knowledge base is read again only when
    # its size or modification time changed.
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if stat.st_size > LARGE_FILE_BYTES:
        return hashlib.sha256(repr(key).encode()).digest()
    if key not in _digests:
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        _digests[key] = sha.digest()
    return _digests[key]
