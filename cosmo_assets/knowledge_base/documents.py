"""Document seeds: real texts (JSONL or Parquet) whose extract a prompt quotes, assigned to domains by keyword
rules or by TF-IDF + k-means clusters; the extract's names and numbers are the facts an article is held to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmo_assets.config import CosmoConfig, DocumentSettings
from cosmo_assets.ids import content_hash
from cosmo_assets.knowledge_base.records import (
    INVALID_ROW,
    MALFORMED_JSON,
    BadRow,
    Entity,
    RowProblem,
    SeedFileError,
    check_entity,
    decode_line,
    open_binary,
)

FIELDS = ("id", "text", "url", "title", "language")
NAME_PROPERTY = "name in the extract"
NUMBER_PROPERTY = "figure in the extract"
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
# A number with what it counts ("1,700 people", "42 km", "1888"), or two or more capitalised words ("Ada Lovelace").
_NUMBER = re.compile(r"\b(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s+(?:per\s+cent|percent|%|[a-zA-Zéè]+))?")
_NAME = re.compile(r"\b[A-Z][\w'-]+(?:\s+(?:(?:of|de|du|the|von|van|da|di|del|la|le)\s+)?[A-Z][\w'-]+)+")


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    url: str | None
    title: str | None
    language: str | None
    location: str


def read_documents(path: Path, settings_limits) -> tuple[list[Document], list[BadRow]]:
    """Every row of a documents file: `text` required; `id` (else a hash of url or text), `url`, `title`, `language` optional."""
    rows: list[Document] = []
    bad: list[BadRow] = []
    for where, obj, raw in _rows(path, settings_limits):
        try:
            rows.append(_document(obj, where))
        except RowProblem as problem:
            bad.append(BadRow.of(where, problem, raw=raw))
    return rows, bad


def _rows(path: Path, limits) -> Iterator[tuple[str, Any, str | bytes | None]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "text" not in table.column_names:
            raise SeedFileError(f"{path}: a documents file needs a 'text' column; found {table.column_names}")
        for i, row in enumerate(table.to_pylist(), start=1):
            yield f"row {i}", row, None
        return
    with open_binary(path) as stream:
        for line_no, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(decode_line(raw.rstrip(b"\r\n"), limits))
            except RowProblem as problem:
                yield f"line {line_no}", problem, raw
                continue
            except json.JSONDecodeError as exc:
                yield f"line {line_no}", RowProblem(MALFORMED_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})"), raw
                continue
            yield f"line {line_no}", obj, raw


def _document(obj: Any, where: str) -> Document:
    if isinstance(obj, RowProblem):
        raise obj
    if not isinstance(obj, dict):
        raise RowProblem(INVALID_ROW, f"expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RowProblem(INVALID_ROW, "field 'text': expected a non-empty string")
    values = {}
    for name in ("id", "url", "title", "language"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise RowProblem(INVALID_ROW, f"field {name!r}: expected a string, got {type(value).__name__}")
        values[name] = value.strip() if isinstance(value, str) and value.strip() else None
    doc_id = values["id"] or f"doc-{content_hash(values['url'] or text, length=12)}"
    return Document(doc_id, text.strip(), values["url"], values["title"], values["language"], where)


def extract(text: str, settings: DocumentSettings) -> str:
    """The window a prompt quotes: from `extract_start_chars` (moved to a sentence start), at most
    `extract_chars`, cut after the last sentence end inside it (a word end when there is none)."""
    start = settings.extract_start_chars
    if start:
        ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
        start = ends[-1] if ends else 0
    window = " ".join(text[start:].split())
    if len(window) <= settings.extract_chars:
        return window
    cut = window[: settings.extract_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(cut)]
    return cut[: ends[-1]] if ends else cut.rsplit(" ", 1)[0]


def extract_facts(text: str, cap: int) -> list[dict[str, str]]:
    """The extract's numbers (with the word after them) and multi-word names, first seen first, at most `cap`:
    the facts an article about it is held to, as knowledge-base facts are."""
    found: list[tuple[int, dict[str, str]]] = []
    seen: set[str] = set()
    for pattern, prop in ((_NUMBER, NUMBER_PROPERTY), (_NAME, NAME_PROPERTY)):
        for m in pattern.finditer(text):
            value = _clean(m.group(0).strip(" ,."), prop)
            if value and value.lower() not in seen and (len(value) > 1 or prop == NUMBER_PROPERTY):
                seen.add(value.lower())
                found.append((m.start(), {"property": prop, "value": value}))
    return [f for _, f in sorted(found, key=lambda pf: pf[0])][:cap]


_YEAR = re.compile(r"^(1\d{3}|20\d{2})\b")
# Capitalised only because they open a sentence: not part of a name.
_OPENERS = {"a", "an", "the", "in", "on", "at", "when", "before", "after", "with", "within", "most", "some", "each", "every",
            "to", "its", "his", "her", "their", "this", "that", "looking", "counting", "le", "la", "les", "el", "der", "die", "das"}


_NOT_UNITS = {"to", "and", "or", "in", "on", "at", "of", "the", "a", "an", "with", "after", "before", "by", "from", "for",
              "is", "was", "were", "are", "that", "which", "when", "than", "as", "but", "et", "de", "y", "und"}


def _clean(value: str, prop: str) -> str:
    """A year stands alone (the word after it is not its unit); a name loses the sentence opener before it."""
    if prop == NUMBER_PROPERTY:
        year = _YEAR.match(value)
        if year:
            return year.group(1)
        number, _, unit = value.partition(" ")
        if unit.lower() in _NOT_UNITS:
            unit = ""
        if not unit and float(number.replace(",", "")) < 10:
            return ""  # a bare small number ("steps 2 and 3") is no figure to hold an article to
        return f"{number} {unit}".strip()
    words = value.split()
    while words and words[0].lower() in _OPENERS:
        words.pop(0)
    return " ".join(words) if len(words) > 1 or (words and len(value.split()) == 1) else ""


def _title(doc: Document, piece: str) -> str:
    return doc.title or " ".join(piece.split()[:8]).rstrip(",.;:") + " …"


def document_grounds(text: str, settings: DocumentSettings) -> tuple[str, list[dict[str, str]]]:
    """A document's extract and the names and figures in it: what a prompt quotes and what the writing
    (an article seeded by it, or a rewrite of it) is held to."""
    piece = extract(text, settings)
    return piece, extract_facts(piece, settings.max_facts)


def document_entity(doc: Document, settings: DocumentSettings, limits) -> Entity:
    piece, facts = document_grounds(doc.text, settings)
    entity = Entity(
        source_id=doc.doc_id, title=_title(doc, piece), topic_type=settings.topic_type, description=piece,
        facts=facts, keywords=[doc.url] if doc.url else [], location=doc.location,
    )
    return check_entity(entity, limits)


@dataclass
class DocumentsReader:
    """The documents of one file that the assignment gives this domain, in this partition's language."""

    config: CosmoConfig
    path: Path
    domain: str
    language: str
    counted: dict[str, Any] = field(default_factory=dict)

    def read(self) -> Iterator[Entity | BadRow]:
        from cosmo_assets.knowledge_base.document_domains import assign

        settings, limits = self.config.seeds.documents, self.config.seeds.limits
        docs, bad = read_documents(self.path, limits)
        yield from bad
        assignment = assign(self.config, self.path, docs)
        self.counted = {"documents": len(docs), "assigned_here": 0, "unassigned": assignment.unassigned,
                        "excluded_by_cluster": assignment.excluded, "clusters": assignment.clusters}
        for doc in docs:
            if assignment.domain_of.get(doc.doc_id) != self.domain or doc.language not in (None, self.language):
                continue
            self.counted["assigned_here"] += 1
            try:
                yield document_entity(doc, settings, limits)
            except RowProblem as problem:
                yield BadRow.of(doc.location, problem, source_id=doc.doc_id)

    def figures(self) -> dict[str, Any]:
        return dict(self.counted)
