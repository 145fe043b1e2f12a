"""Wikidata JSON dumps in their published format: a JSON array with one entity per line, read as a stream.

Labels, descriptions and aliases are taken in the partition's language (then the configured
fallbacks); claims become facts only for the properties named in configs/wikidata_properties.yaml,
with item values replaced by their labels. Those labels are found in a second pass over the dump,
so nothing but the selected entities is ever held in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmo_assets.config import SeedLimits, WikidataSettings, WikidataSource, WikidataVocabulary
from cosmo_assets.dates import ERA
from cosmo_assets.knowledge_base.records import (
    INVALID_ROW,
    MALFORMED_JSON,
    BadRow,
    Entity,
    EntityFilter,
    RowProblem,
    check_entity,
    decode_line,
    open_binary,
)

# Dumps write "type" then "id" first on every line, so an entity's id can be read without parsing it.
_ENTITY_ID = re.compile(rb'"id"\s*:\s*"([QPL][0-9]+)"')
_ID_WINDOW = 300
_TIME = re.compile(r"^([+-])(\d+)-(\d\d)-(\d\d)T")
_ITEM_URI = "http://www.wikidata.org/entity/"


@dataclass(frozen=True)
class _Ref:
    """An item value whose label is looked up after the first pass."""

    qid: str


@dataclass
class _Pending:
    entity: Entity
    facts: list[tuple[str, list[str | _Ref]]] = field(default_factory=list)
    raw: bytes = b""


def dump_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, entity bytes) for each entity of a dump, its array punctuation stripped."""
    with open_binary(path) as stream:
        for line_no, raw in enumerate(stream, start=1):
            line = raw.strip()
            # An entity is an object, so a leading "[" or a trailing "]" belongs to the array.
            if line.startswith(b"["):
                line = line[1:].lstrip()
            if line.endswith(b","):
                line = line[:-1].rstrip()
            if line.endswith(b"]"):
                line = line[:-1].rstrip()
            if line:
                yield line_no, line


def _entity_id(line: bytes) -> str | None:
    match = _ENTITY_ID.search(line, 0, _ID_WINDOW)
    return match.group(1).decode("ascii") if match else None


class WikidataReader:
    def __init__(
        self,
        path: Path,
        source: WikidataSource,
        settings: WikidataSettings,
        vocabulary: WikidataVocabulary,
        language: str,
        wanted: EntityFilter,
        limits: SeedLimits,
    ):
        self.path, self.settings, self.vocabulary = path, settings, vocabulary
        self.language, self.wanted, self.limits = language, wanted, limits
        self.languages = [language, *[code for code in settings.label_fallback if code != language]]
        # The source's own rules first, then the shared ones; P31 order decides between several matches.
        self.class_types: dict[str, str] = {}
        for rules in (source.topic_types, settings.topic_types):
            for topic_type, classes in rules.items():
                for qid in classes:
                    self.class_types.setdefault(qid, topic_type)
        self.unresolved_values = 0

    def figures(self) -> dict[str, int]:
        return {"unresolved_values": self.unresolved_values}

    def read(self) -> Iterator[Entity | BadRow]:
        pending: list[_Pending] = []
        labels: dict[str, str] = {}
        for line_no, raw in dump_lines(self.path):
            where = f"line {line_no}"
            if self.wanted.ids:
                qid = _entity_id(raw)
                if qid is not None and not self.wanted.wants_id(qid):
                    continue  # skipped unparsed: most of a full dump lies outside any one domain
            try:
                obj = self._parse(raw)
            except RowProblem as problem:
                yield BadRow.of(where, problem, source_id=_entity_id(raw), raw=raw)
                continue
            if obj.get("type") != "item":
                continue  # properties and lexemes are not topics
            qid = obj["id"]
            title, description, aliases = self._text(obj, "labels"), self._text(obj, "descriptions"), self._aliases(obj)
            classes = self._classes(obj)
            if not self.wanted.wants(qid, classes, [title, description, *aliases]):
                continue
            entity = Entity(
                source_id=qid,
                title=title,
                topic_type=next((self.class_types[c] for c in classes if c in self.class_types), ""),
                description=description,
                keywords=aliases,
                instance_of=classes,
                location=where,
            )
            item = _Pending(entity, self._facts(obj), raw)
            pending.append(item)
            if title:
                labels[qid] = title
        needed = {part.qid for item in pending for _, parts in item.facts for part in parts if isinstance(part, _Ref)}
        labels.update(self._labels_of(needed - labels.keys()))
        for item in pending:
            item.entity.facts = self._resolve(item.facts, labels)
            try:
                yield check_entity(item.entity, self.limits)
            except RowProblem as problem:
                yield BadRow.of(item.entity.location, problem, source_id=item.entity.source_id, raw=item.raw)

    def _parse(self, raw: bytes) -> dict[str, Any]:
        text = decode_line(raw, self.limits)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowProblem(MALFORMED_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise RowProblem(INVALID_ROW, "expected a Wikidata entity: a JSON object with an 'id'")
        for key in ("labels", "descriptions", "aliases", "claims"):
            if not isinstance(obj.get(key, {}), dict):
                raise RowProblem(INVALID_ROW, f"field '{key}': expected an object keyed by language or property")
        return obj

    def _text(self, obj: dict[str, Any], key: str) -> str:
        values = obj.get(key) or {}
        for code in self.languages:
            entry = values.get(code)
            if isinstance(entry, dict) and isinstance(entry.get("value"), str):
                return entry["value"].strip()
        return ""

    def _aliases(self, obj: dict[str, Any]) -> list[str]:
        entries = (obj.get("aliases") or {}).get(self.language) or []
        return [e["value"] for e in entries if isinstance(e, dict) and isinstance(e.get("value"), str)]

    def _classes(self, obj: dict[str, Any]) -> list[str]:
        return [part.qid for parts in self._values(obj, "P31") for part in parts if isinstance(part, _Ref)]

    def _facts(self, obj: dict[str, Any]) -> list[tuple[str, list[str | _Ref]]]:
        facts = []
        for pid, names in self.vocabulary.properties.items():
            name = names.get(self.language) or names["en"]
            for parts in self._values(obj, pid)[: self.settings.values_per_property]:
                facts.append((name, parts))
        return facts

    def _values(self, obj: dict[str, Any], pid: str) -> list[list[str | _Ref]]:
        statements = [s for s in (obj.get("claims") or {}).get(pid) or [] if isinstance(s, dict)]
        statements = [s for s in statements if s.get("rank") != "deprecated"]
        preferred = [s for s in statements if s.get("rank") == "preferred"]
        values = []
        for statement in preferred or statements:
            snak = statement.get("mainsnak") or {}
            if snak.get("snaktype") != "value":
                continue  # "no value" and "unknown value" say nothing to write about
            parts = self._value(snak.get("datavalue") or {})
            if parts:
                values.append(parts)
        return values

    def _value(self, datavalue: dict[str, Any]) -> list[str | _Ref] | None:
        kind, value = datavalue.get("type"), datavalue.get("value")
        if kind == "wikibase-entityid" and isinstance(value, dict):
            qid = value.get("id") or (f"Q{value['numeric-id']}" if "numeric-id" in value else None)
            return [_Ref(qid)] if qid else None
        if kind == "time" and isinstance(value, dict):
            text = format_time(str(value.get("time", "")), int(value.get("precision", 11)), self.language)
            return [text] if text else None
        if kind == "quantity" and isinstance(value, dict):
            amount = str(value.get("amount", "")).lstrip("+")
            unit = str(value.get("unit", "1"))
            if not amount:
                return None
            if unit == "1":
                return [amount]
            unit_id = unit.removeprefix(_ITEM_URI)
            names = self.vocabulary.units.get(unit_id)
            return [f"{amount} ", names.get(self.language) or names["en"]] if names else [f"{amount} ", _Ref(unit_id)]
        if kind == "monolingualtext" and isinstance(value, dict):
            return [value["text"]] if isinstance(value.get("text"), str) else None
        if kind == "globecoordinate" and isinstance(value, dict):
            try:
                return [f"{float(value['latitude']):.4f}, {float(value['longitude']):.4f}"]
            except (KeyError, TypeError, ValueError):
                return None
        if kind == "string" and isinstance(value, str):
            return [value]
        return None

    def _labels_of(self, qids: set[str]) -> dict[str, str]:
        """Labels of the items that facts refer to, from a second pass that parses only those lines."""
        found: dict[str, str] = {}
        if not qids:
            return found
        for _, raw in dump_lines(self.path):
            qid = _entity_id(raw)
            if qid not in qids:
                continue
            try:
                obj = self._parse(raw)
            except RowProblem:
                continue  # already quarantined in the first pass
            label = self._text(obj, "labels")
            if label:
                found[qid] = label
            if len(found) == len(qids):
                break
        return found

    def _resolve(self, facts: list[tuple[str, list[str | _Ref]]], labels: dict[str, str]) -> list[dict[str, str]]:
        resolved = []
        for name, parts in facts:
            if any(isinstance(p, _Ref) and p.qid not in labels for p in parts):
                self.unresolved_values += 1  # "Q36" is no fact a reader can use
                continue
            value = "".join(labels[p.qid] if isinstance(p, _Ref) else p for p in parts).strip()
            if value:
                resolved.append({"property": name, "value": value})
        return resolved


def format_time(time: str, precision: int, language: str) -> str | None:
    """A Wikidata time ('+1867-11-07T00:00:00Z', precision 11=day, 10=month, 9=year) as a readable date."""
    match = _TIME.match(time)
    if not match:
        return None
    sign, year, month, day = match.group(1), int(match.group(2)), match.group(3), match.group(4)
    if sign == "-":
        return f"{year} {ERA.get(language, ERA['en'])}"
    if precision >= 11 and month != "00" and day != "00":
        return f"{year:04d}-{month}-{day}"
    if precision == 10 and month != "00":
        return f"{year:04d}-{month}"
    return str(year)
