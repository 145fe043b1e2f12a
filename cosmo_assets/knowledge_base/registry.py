"""Source kinds: each `kind` a domain file may name (configs/domains/*.yaml) and the adapter that reads it.

A new kind is its settings in config/domains.py (SOURCE_SETTINGS), a reader module here, and one line in
READERS below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cosmo_assets.config import CosmoConfig, SourceSettings
from cosmo_assets.knowledge_base.curated import read_curated_jsonl
from cosmo_assets.knowledge_base.documents import DocumentsReader
from cosmo_assets.knowledge_base.records import BadRow, Entity, EntityFilter, SeedFileError
from cosmo_assets.knowledge_base.tabular import read_tabular
from cosmo_assets.knowledge_base.wikidata import WikidataReader


@dataclass(frozen=True)
class SourceRead:
    """One source of a domain, read for one language partition."""

    config: CosmoConfig
    source: SourceSettings
    path: Path
    language: str
    wanted: EntityFilter
    domain: str = ""  # the partition's domain (documents are assigned to domains across the whole file)


class SourceReader(Protocol):
    def read(self) -> Iterator[Entity | BadRow]: ...

    def figures(self) -> dict[str, Any]:
        """What the reader counted besides rows (e.g. unresolved values), once `read` is done."""
        ...


@dataclass
class _Rows:
    """A reader with nothing to count besides its rows."""

    rows: Iterator[Entity | BadRow]

    def read(self) -> Iterator[Entity | BadRow]:
        return self.rows

    def figures(self) -> dict[str, Any]:
        return {}


def _curated(r: SourceRead) -> SourceReader:
    return _Rows(read_curated_jsonl(r.path, r.wanted, r.config.seeds.limits))


def _tabular(r: SourceRead) -> SourceReader:
    return _Rows(read_tabular(r.path, r.source, r.language, r.wanted, r.config.seeds.limits))


def _wikidata(r: SourceRead) -> SourceReader:
    return WikidataReader(r.config, r.source, r.path, r.language, r.wanted)


def _documents(r: SourceRead) -> SourceReader:
    return DocumentsReader(r.config, r.path, r.domain, r.language)


READERS: dict[str, Callable[[SourceRead], SourceReader]] = {
    "curated_jsonl": _curated,
    "wikidata": _wikidata,
    "csv": _tabular,
    "parquet": _tabular,
    "documents": _documents,
}


def open_source(request: SourceRead) -> SourceReader:
    kind = request.source.kind  # type: ignore[attr-defined]
    if kind not in READERS:
        raise SeedFileError(f"{request.path}: no adapter for source kind {kind!r}")
    return READERS[kind](request)
