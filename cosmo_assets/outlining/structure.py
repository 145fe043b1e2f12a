"""Structural outlines: a seed's facts placed into the sections of its topic type (or a timeline of its dated facts)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from cosmo_assets.config import OutlineSection
from cosmo_assets.dates import FactDate, fact_date


@dataclass
class PlannedSection:
    heading: str
    facts: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"heading": self.heading, "facts": self.facts}


@dataclass(frozen=True)
class FactReader:
    """Reads facts through their English property names, so rules written once serve every language."""

    canonical_names: dict[str, str]

    def english(self, prop: str) -> str:
        return self.canonical_names.get(prop.lower(), prop).lower()

    def date(self, fact: dict[str, str]) -> FactDate | None:
        return fact_date(self.english(fact["property"]), fact["value"])

    def dated_count(self, facts: list[dict[str, str]]) -> int:
        return sum(self.date(f) is not None for f in facts)


@dataclass(frozen=True)
class _Rule:
    section: OutlineSection

    @cached_property
    def pattern(self) -> re.Pattern | None:
        words = [re.escape(w.lower()) for w in self.section.match]
        return re.compile(r"\b(?:" + "|".join(words) + ")") if words else None


def place_facts(
    sections: list[OutlineSection], facts: list[dict[str, str]], language: str, reader: FactReader
) -> list[PlannedSection]:
    """Each fact goes to the first section whose match words begin a word of its property, else to the rest section.
    Sections left without a fact are dropped unless they are kept; with no facts at all, every section stays."""
    rules = [_Rule(s) for s in sections]
    planned = [PlannedSection(s.heading.get(language) or s.heading["en"]) for s in sections]
    rest = next(i for i, s in enumerate(sections) if s.rest)
    for fact in facts:
        prop = reader.english(fact["property"])
        target = next((i for i, r in enumerate(rules) if r.pattern and r.pattern.search(prop)), rest)
        planned[target].facts.append(fact)
    if not facts:
        return planned
    return [p for p, s in zip(planned, sections) if p.facts or s.keep]


def timeline(
    closing: list[OutlineSection], facts: list[dict[str, str]], language: str, reader: FactReader
) -> list[PlannedSection]:
    """The dated facts in date order, one section per year, then the closing sections for the undated ones."""
    dated = sorted(((reader.date(f), i, f) for i, f in enumerate(facts) if reader.date(f)), key=lambda t: (t[0], t[1]))
    by_year: dict[int, PlannedSection] = {}
    for when, _, fact in dated:
        by_year.setdefault(when.year, PlannedSection(when.label(language))).facts.append(fact)
    undated = [f for f in facts if reader.date(f) is None]
    tail = place_facts(closing, undated, language, reader) if undated else [
        PlannedSection(s.heading.get(language) or s.heading["en"]) for s in closing if s.keep
    ]
    return list(by_year.values()) + tail


def select_facts(facts: list[dict[str, str]], cap: int, reader: FactReader, prefer_dated: bool) -> list[dict[str, str]]:
    """The facts an outline uses: the first `cap` in the knowledge base's order (most telling first); a timeline
    takes its dated facts first. The chosen facts keep their original order."""
    if len(facts) <= cap:
        return list(facts)
    ranked = sorted(range(len(facts)), key=lambda i: (prefer_dated and reader.date(facts[i]) is None, i))
    chosen = sorted(ranked[:cap])
    return [facts[i] for i in chosen]
