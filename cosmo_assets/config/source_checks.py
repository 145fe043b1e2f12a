"""Checks at config load that read a little of the files the config names, so a wrong config fails
before any write: every prompt template renders for every content type, language, audience, style and angle;
a CSV/Parquet source has the columns its mapping names (its header only); a `wikidata` source is a
Wikidata dump; real-text rows name configured domains."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from cosmo_assets.config.base import ConfigError

# A stand-in outline: two sections, one with facts, as the outlines stage hands them to a template.
SAMPLE_OUTLINE = [
    {"heading": "Overview", "facts": [{"property": "date of birth", "value": "7 November 1867"},
                                      {"property": "field of work", "value": "physics"}]},
    {"heading": "Legacy", "facts": []},
]


# Template sets (and the settings they were rendered with) that rendered cleanly in this process. The
# config is loaded again by every `inputs_current` check, sensor tick and schedule tick, and the renders
# are most of a load (about 0.7 s of 1 s on a 2-core machine): an unchanged set is not rendered again.
_RENDERED: set[str] = set()


def _templates_key(root: Path, outlines, languages, documents_template: str | None) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "templates").rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(root)}\0".encode() + path.read_bytes() + b"\0")
    digest.update(outlines.model_dump_json().encode())
    digest.update(json.dumps([lang.model_dump() for lang in languages], sort_keys=True).encode())
    digest.update(repr(documents_template).encode())
    return digest.hexdigest()


def check_templates(root: Path, outlines, languages, documents_template: str | None = None) -> None:
    """Renders each content type's template against the sample outline in every language, and once per
    audience, style, angle, topic type and first or second variant; an undefined variable fails naming the
    template file and line."""
    key = _templates_key(root, outlines, languages, documents_template)
    if key not in _RENDERED:
        _render_every_case(root, outlines, languages, documents_template)
        _RENDERED.add(key)


def _render_every_case(root: Path, outlines, languages, documents_template: str | None) -> None:
    from cosmo_assets.config.base import TOPIC_TYPES
    from cosmo_assets.outlining.facts import readable_fact
    from cosmo_assets.outlining.structure import FactReader
    from cosmo_assets.outlining.templates import TemplateError, TemplateLibrary

    library = TemplateLibrary(root / "templates")
    audiences, styles, angles = [a.id for a in outlines.audiences], [s.id for s in outlines.styles], [a.id for a in outlines.angles]
    n = max(len(audiences), len(styles), len(angles), 2 * len(TOPIC_TYPES))
    cases = [(audiences[i % len(audiences)], styles[i % len(styles)], angles[i % len(angles)],
              TOPIC_TYPES[i % len(TOPIC_TYPES)], (i // len(TOPIC_TYPES)) % 2, i) for i in range(n)]
    for lang in languages:
        sample = [{"heading": s["heading"], "facts": [readable_fact(f, lang.code, FactReader({})) for f in s["facts"]]}
                  for s in SAMPLE_OUTLINE]
        for ct in outlines.content_types:
            for audience, style, angle, topic_type, variant, i in cases:
                try:
                    library.render(
                        ct.template, lang=lang.code, language=lang.name, title="Marie Curie",
                        description="a physicist and chemist", topic_type=topic_type, content_type=ct.id,
                        audience=audience, style=style, angle=angle, variant=variant, outline=sample, words=250, pick=i,
                    )
                except TemplateError as exc:
                    raise ConfigError(
                        f"{exc} (rendering content type {ct.id!r} for language {lang.code!r}, audience {audience!r}, "
                        f"style {style!r}, angle {angle!r}, topic type {topic_type!r} against a sample outline)"
                    ) from None
        if documents_template:
            try:
                library.render(documents_template, lang=lang.code, language=lang.name, title="The river trade",
                               description="Boats carried 1,700 tonnes of grain to Lyon.", url="https://example.org/a",
                               topic_type="concept", content_type=outlines.content_types[0].id, audience=audiences[0],
                               style=styles[0], angle=angles[0], variant=0, outline=sample, words=250, pick=0)
            except TemplateError as exc:
                raise ConfigError(f"{exc} (rendering seeds.yaml documents.template for language {lang.code!r})") from None
        if outlines.model_outlines.enabled:
            try:
                library.render(outlines.model_outlines.template, lang=lang.code, title="Marie Curie",
                               description="a physicist and chemist", audience=audiences[0],
                               facts=sample[0]["facts"], variant=0)
            except TemplateError as exc:
                raise ConfigError(f"{exc} (rendering model_outlines.template for language {lang.code!r})") from None


def check_tabular_header(where: str, path: Path, source) -> None:
    """The columns a CSV/Parquet mapping names are in the file's header (nothing else is read)."""
    needed = list(dict.fromkeys([c for c in source.columns.model_dump().values() if c] + list(source.facts)))
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            header = pq.read_schema(path).names
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for an unreadable file
            raise ConfigError(f"{where}: {path} is not a readable Parquet file ({exc})") from None
    else:
        from cosmo_assets.knowledge_base.records import open_binary

        with open_binary(path) as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
            header = [h.lstrip("\ufeff").strip() for h in next(csv.reader(text, delimiter=source.delimiter), [])]
    missing = [c for c in needed if c not in header]
    if missing:
        raise ConfigError(f"{where}: columns {missing} named in 'columns' / 'facts' are not in {path}; its header has {header}")


def check_wikidata_dump(where: str, path: Path) -> None:
    """A Wikidata JSON dump: a JSON array, one entity (with 'type', 'id' and 'claims' or 'labels') per line."""
    from cosmo_assets.knowledge_base.records import open_binary

    first = None
    try:
        with open_binary(path) as stream:
            for raw in stream:
                line = raw.strip().lstrip(b"[").strip().rstrip(b",").rstrip(b"]").strip()
                if line:
                    first = line
                    break
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{where}: {path} cannot be read ({exc})") from None
    expected = ("expected a Wikidata JSON dump (.json, .json.gz or .json.bz2: a JSON array with one entity per line, "
                "each with 'type', 'id' and 'claims')")
    if first is None:
        raise ConfigError(f"{where}: {path} is empty; {expected}")
    try:
        entity = json.loads(first)
    except ValueError:
        raise ConfigError(f"{where}: {path}: its first entity is not JSON; {expected}") from None
    if not isinstance(entity, dict) or "type" not in entity or "id" not in entity or not ({"claims", "labels"} & set(entity)):
        keys = sorted(entity)[:10] if isinstance(entity, dict) else type(entity).__name__
        raise ConfigError(f"{where}: {path} does not look like a Wikidata dump (its first record has {keys}); {expected}")


def check_real_text_domains(where: str, path: Path, corpus_domain: str | None, domains: list[str]) -> None:
    """Every real-text row's domain (its own, else the corpus's) is a configured domain. Reads only
    that field; a row the stage would refuse for other reasons is left to it."""
    for line, domain in _domains_of(path):
        domain = domain or corpus_domain
        if domain not in domains:
            expected = ("a 'domain' on the row or 'domain' on the corpus" if domain is None else f"one of {domains}")
            raise ConfigError(f"{where}: {path}:{line}: field 'domain': expected {expected}, got {domain!r}")


def _domains_of(path: Path):
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
            values = pq.read_table(path, columns=["domain"]).column("domain").to_pylist() if "domain" in names else None
        except Exception:  # noqa: BLE001 - an unreadable file is the stage's to report, with its own message
            return
        count = pq.ParquetFile(path).metadata.num_rows
        yield from enumerate(values or [None] * count, start=1)
    elif path.suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    row = json.loads(line) if line.strip() else None
                except ValueError:
                    continue
                if isinstance(row, dict):
                    yield number, row.get("domain") if isinstance(row.get("domain"), str) else None


def check_documents_file(where: str, path: Path) -> None:
    """A documents source is JSONL or Parquet, and its first row (or its schema) has a `text` field."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        columns = pq.read_schema(path).names
        if "text" not in columns:
            raise ConfigError(f"{where}: {path} has no 'text' column; found {columns}")
        return
    if path.suffix != ".jsonl":
        raise ConfigError(f"{where}: expected a .jsonl or .parquet file, got {path.name}")
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    try:
        row = json.loads(first) if first else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: {path} line 1 is not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict) or "text" not in row:
        raise ConfigError(f"{where}: {path} line 1 has no 'text' field; expected text and optional id, url, title, language")
