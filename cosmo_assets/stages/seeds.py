"""Stage 1, seeds: read a domain's sources into one row per entity to write about; bad rows go to quarantine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_assets.config import CosmoConfig
from cosmo_assets.ids import content_hash, stable_id
from cosmo_assets.knowledge_base.records import DUPLICATE_ID, BadRow, Entity, EntityFilter, SeedFileError
from cosmo_assets.knowledge_base.registry import SourceRead, open_source
from cosmo_assets.storage import frame_schema

__all__ = ["SeedBatch", "SeedFileError", "build_seeds", "cluster_frame", "read_seeds"]


@dataclass
class SourceReport:
    """What one source gave a partition: kept rows, quarantined rows by reason, and what was set aside."""

    source: str
    path: str
    kept: int = 0
    quarantined: Counter = field(default_factory=Counter)
    same_title_as_earlier_source: int = 0
    figures: dict[str, Any] = field(default_factory=dict)  # what the source's reader counted besides rows

    def as_metadata(self) -> dict:
        return {
            "path": self.path,
            "kept": self.kept,
            "quarantined": dict(self.quarantined),
            "same_title_as_earlier_source": self.same_title_as_earlier_source,
            "unresolved_values": 0,  # only Wikidata dumps have values to resolve; their reader counts them
            **self.figures,
        }


@dataclass
class SeedBatch:
    seeds: pl.DataFrame  # the (sampled) seeds of the partition
    quarantine: pl.DataFrame  # every bad row of the domain's sources, with its reason
    read: int  # rows of the domain: every good one (before sampling) plus every bad one
    reports: list[SourceReport]

    @property
    def bad_share(self) -> float:
        return self.quarantine.height / self.read if self.read else 0.0


def read_seeds(config: CosmoConfig, domain: str, language: str, limit: int | None) -> SeedBatch:
    """Every source of the domain, filtered; `limit` draws a deterministic, seeded sample so small runs span the base."""
    wanted = EntityFilter.of(config.domain(domain).filters)
    entities: list[tuple[str, Entity]] = []
    bad: list[tuple[str, Path, BadRow]] = []
    reports = []
    titles_seen: set[tuple[str, str]] = set()
    for source in config.domain(domain).all_sources:
        path = config.source_path(source)
        report = SourceReport(source.source_name, str(path))
        reports.append(report)
        if not path.is_file():
            raise SeedFileError(f"{path}: the knowledge base of domain {domain!r} (source {source.source_name!r}) is not there")
        first_seen: dict[str, str] = {}
        source_titles: set[tuple[str, str]] = set()
        reader = open_source(SourceRead(config, source, path, language, wanted, domain))
        for row in reader.read():
            if isinstance(row, Entity) and row.source_id in first_seen:
                row = BadRow(row.location, DUPLICATE_ID, f"field 'id': {row.source_id!r} already used on {first_seen[row.source_id]}", row.source_id)
            if isinstance(row, BadRow):
                bad.append((source.source_name, path, row))
                report.quarantined[row.reason] += 1
                continue
            first_seen[row.source_id] = row.location
            key = (" ".join(row.title.lower().split()), row.topic_type)
            if key in titles_seen:
                report.same_title_as_earlier_source += 1  # one entity from two sources: the earlier source wins
                continue
            source_titles.add(key)
            entities.append((source.source_name, row))
            report.kept += 1
        titles_seen |= source_titles
        report.figures = reader.figures()
    read = len(entities) + len(bad)
    if limit is not None and limit < len(entities):
        salt = config.project.run.random_seed
        entities = sorted(entities, key=lambda se: (content_hash(salt, domain, se[1].source_id), se[0]))[:limit]
    entities.sort(key=lambda se: (se[0], se[1].source_id))
    return SeedBatch(_seed_frame(entities, domain, language), _quarantine_frame(bad, domain, language), read, reports)


def build_seeds(config: CosmoConfig, domain: str, language: str, limit: int | None) -> pl.DataFrame:
    """The seeds of one partition (read_seeds without the quarantine)."""
    return read_seeds(config, domain, language, limit).seeds


def _seed_frame(entities: list[tuple[str, Entity]], domain: str, language: str) -> pl.DataFrame:
    rows = [
        {
            "seed_id": stable_id("seed", domain, language, source, e.source_id),
            "domain": domain,
            "language": language,
            "title": e.title,
            "topic_type": e.topic_type,
            "description": e.description,
            "facts": e.facts,
            "keywords": e.keywords,
            "source": source,
            "source_id": e.source_id,
        }
        for source, e in entities
    ]
    return pl.DataFrame(rows, schema=frame_schema("seeds"))


def _quarantine_frame(bad: list[tuple[str, Path, BadRow]], domain: str, language: str) -> pl.DataFrame:
    rows = [
        {
            "quarantine_id": stable_id("quarantine", domain, language, source, str(path), row.location),
            "domain": domain,
            "language": language,
            "source": source,
            "path": str(path),
            "location": row.location,
            "source_id": row.source_id,
            "reason": row.reason,
            "detail": row.detail,
            "raw": row.raw,
        }
        for source, path, row in bad
    ]
    return pl.DataFrame(rows, schema=frame_schema("seed_quarantine"))


def cluster_frame(reports: list[SourceReport], partition: dict[str, str]) -> pl.DataFrame:
    """The document_clusters rows of a partition: every cluster of its documents sources (empty without any)."""
    rows = [{**partition, "source": r.source, **c} for r in reports for c in r.figures.get("clusters", [])]
    return pl.DataFrame(rows, schema=frame_schema("document_clusters"))
