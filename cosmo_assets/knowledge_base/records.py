"""What every adapter yields: an entity ready to seed, or a bad row with the reason it was quarantined."""

from __future__ import annotations

import bz2
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cosmo_assets.config import TOPIC_TYPES, DomainFilters, SeedLimits

# Why a row was quarantined; the seed_quarantine table's reason column holds one of these.
MALFORMED_JSON = "malformed_json"
BAD_ENCODING = "bad_encoding"
MISSING_TITLE = "missing_title"
OVERSIZED_FIELD = "oversized_field"
UNKNOWN_TOPIC_TYPE = "unknown_topic_type"
INVALID_ROW = "invalid_row"
DUPLICATE_ID = "duplicate_id"
REASONS = (MALFORMED_JSON, BAD_ENCODING, MISSING_TITLE, OVERSIZED_FIELD, UNKNOWN_TOPIC_TYPE, INVALID_ROW, DUPLICATE_ID)

_RAW_CHARS = 500  # enough of a bad row to recognise it, without copying a multi-MB line into DuckDB


class SeedFileError(ValueError):
    """A whole source cannot be read (missing file, mapped column absent); names the file and what was expected."""


class RowProblem(Exception):
    """One row cannot become a seed; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Entity:
    source_id: str
    title: str
    topic_type: str
    description: str = ""
    facts: list[dict[str, str]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    instance_of: list[str] = field(default_factory=list)
    location: str = ""  # where in the file it was read, for duplicate reports


@dataclass
class BadRow:
    location: str  # "line 12" or "row 5"
    reason: str
    detail: str
    source_id: str | None = None
    raw: str | None = None

    @classmethod
    def of(cls, location: str, problem: RowProblem, source_id: str | None = None, raw: str | bytes | None = None) -> BadRow:
        return cls(location, problem.reason, problem.detail, source_id, clip_raw(raw))


def clip_raw(raw: str | bytes | None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw[: _RAW_CHARS * 4].decode("utf-8", errors="backslashreplace")
    return raw if len(raw) <= _RAW_CHARS else raw[:_RAW_CHARS] + "..."


@dataclass(frozen=True)
class EntityFilter:
    """The domain's filters: an entity is kept when it passes every filter that is set."""

    ids: frozenset[str] = frozenset()
    instance_of: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()

    @classmethod
    def of(cls, filters: DomainFilters) -> EntityFilter:
        return cls(frozenset(filters.ids), frozenset(filters.instance_of), tuple(k.lower() for k in filters.keywords))

    def wants_id(self, source_id: str | None) -> bool:
        return not self.ids or source_id in self.ids

    def wants(self, source_id: str | None, instance_of: list[str], texts: list[str]) -> bool:
        if not self.wants_id(source_id):
            return False
        if self.instance_of and not self.instance_of.intersection(instance_of):
            return False
        if self.keywords:
            haystack = "\n".join(t for t in texts if t).lower()
            return any(k in haystack for k in self.keywords)
        return True


def open_binary(path: Path) -> IO[bytes]:
    """A file, decompressed on the fly by its suffix (.gz, .bz2), read as a stream."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def decode_line(raw: bytes, limits: SeedLimits) -> str:
    if len(raw) > limits.row_bytes:
        raise RowProblem(OVERSIZED_FIELD, f"the row is {len(raw)} bytes, more than limits.row_bytes={limits.row_bytes}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowProblem(BAD_ENCODING, f"not valid UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}") from None


def _bad_text(text: str) -> str | None:
    """Why a string is not clean text: replacement characters and lone surrogates mark a broken decode."""
    if "\ufffd" in text:
        return "holds U+FFFD (a character lost in an earlier decode)"
    if "\x00" in text:
        return "holds a NUL character"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "holds bytes that are not valid UTF-8"
    return None


def check_entity(entity: Entity, limits: SeedLimits) -> Entity:
    """The checks every source's rows share: encoding, title, topic type, field sizes."""
    texts = [("title", entity.title), ("description", entity.description)]
    texts += [(f"facts.{i}.{k}", f[k]) for i, f in enumerate(entity.facts) for k in ("property", "value")]
    texts += [(f"keywords.{i}", k) for i, k in enumerate(entity.keywords)]
    for name, text in texts:
        why = _bad_text(text)
        if why:
            raise RowProblem(BAD_ENCODING, f"field '{name}' {why}")
    if not entity.title.strip():
        raise RowProblem(MISSING_TITLE, "field 'title' is missing or blank")
    if entity.topic_type not in TOPIC_TYPES:
        raise RowProblem(UNKNOWN_TOPIC_TYPE, f"topic_type {entity.topic_type!r} is not one of {list(TOPIC_TYPES)}")
    sizes = [("title", len(entity.title), limits.title_chars, "title_chars"),
             ("description", len(entity.description), limits.description_chars, "description_chars"),
             ("facts", len(entity.facts), limits.facts, "facts"),
             ("keywords", len(entity.keywords), limits.keywords, "keywords")]
    sizes += [(f"facts.{i}.value", len(f["value"]), limits.fact_value_chars, "fact_value_chars") for i, f in enumerate(entity.facts)]
    sizes += [(f"keywords.{i}", len(k), limits.title_chars, "title_chars") for i, k in enumerate(entity.keywords)]
    for name, size, limit, setting in sizes:
        if size > limit:
            raise RowProblem(OVERSIZED_FIELD, f"field '{name}' has {size} {'items' if setting in ('facts', 'keywords') else 'characters'}, more than limits.{setting}={limit}")
    return entity
