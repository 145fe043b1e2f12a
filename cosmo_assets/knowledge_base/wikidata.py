"""Wikidata JSON dumps in their published format, read for one partition from the dump's extract.

The dump itself is scanned once for every partition (wikidata_extract.py). A partition takes from the
extract the entities its domain wants, with labels, descriptions and aliases in its language (then
the configured fallbacks) and the values of the properties named in configs/wikidata_properties.yaml,
item values replaced by their labels. An entity none of whose instance-of classes is mapped to a
topic type is no bad row: it is skipped and counted by class.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson

from cosmo_assets.config import CosmoConfig, WikidataSource
from cosmo_assets.dates import ERA
from cosmo_assets.knowledge_base.records import BadRow, Entity, EntityFilter, RowProblem, check_entity
from cosmo_assets.knowledge_base.wikidata_extract import Extract, ensure_extract

_TIME = re.compile(r"^([+-])(\d+)-(\d\d)-(\d\d)T")
_ITEM_URI = "http://www.wikidata.org/entity/"
NO_CLASS = "(no instance-of)"
_TOP_CLASSES = 10


@dataclass(frozen=True)
class _Ref:
    """An item value whose label is looked up in the extract's labels."""

    qid: str


@dataclass
class _Pending:
    entity: Entity
    facts: list[tuple[str, list[str | _Ref]]] = field(default_factory=list)
    raw: str | None = None


class WikidataReader:
    def __init__(self, config: CosmoConfig, source: WikidataSource, path: Path, language: str, wanted: EntityFilter):
        self.config, self.path = config, path
        self.settings, self.vocabulary = config.seeds.wikidata, config.wikidata_vocabulary
        self.language, self.wanted, self.limits = language, wanted, config.seeds.limits
        self.languages = [language, *[code for code in self.settings.label_fallback if code != language]]
        # The source's own rules first, then the shared ones; P31 order decides between several matches.
        self.class_types: dict[str, str] = {}
        for rules in (source.topic_types, self.settings.topic_types):
            for topic_type, classes in rules.items():
                for qid in classes:
                    self.class_types.setdefault(qid, topic_type)
        self.unresolved_values = 0
        self.unmapped: Counter = Counter()  # skipped entities by instance-of class
        self.skipped: Counter = Counter()
        self.labels: dict[str, str] = {}
        self.extract: Extract | None = None

    def figures(self) -> dict[str, Any]:
        """Once read: values whose item has no label, and what was skipped (lexemes, properties, redirects, and
        entities of no mapped class, with the top classes)."""
        return {"unresolved_values": self.unresolved_values, "skipped": dict(self.skipped),
                "skipped_unmapped": self.skipped_unmapped()}

    def read(self) -> Iterator[Entity | BadRow]:
        self.extract = ensure_extract(self.config, self.path)
        self.skipped.update({k: v for k, v in self.extract.manifest["skipped"].items() if k != "outside_domains"})
        entities, bad, labels = self._rows(self.extract)
        for line, reason, detail, source_id, raw in bad:
            yield BadRow(f"line {line}", reason, detail, source_id, raw)
        names = {qid: self._text({"labels": orjson.loads(text)}, "labels") for qid, text in labels}
        self.labels = {qid: name for qid, name in names.items() if name}
        pending: list[_Pending] = []
        for line, qid, classes, text, raw in entities:
            obj = orjson.loads(text)
            title, description, aliases = self._text(obj, "labels"), self._text(obj, "descriptions"), self._aliases(obj)
            if not self.wanted.wants(qid, classes, [title, description, *aliases]):
                continue
            topic_type = next((self.class_types[c] for c in classes if c in self.class_types), None)
            if topic_type is None:
                self.skipped["unmapped"] += 1
                self.unmapped.update(classes or [NO_CLASS])
                continue
            entity = Entity(source_id=qid, title=title, topic_type=topic_type, description=description,
                            keywords=aliases, instance_of=list(classes), location=f"line {line}")
            pending.append(_Pending(entity, self._facts(obj), raw))
        for item in pending:
            item.entity.facts = self._resolve(item.facts, self.labels)
            try:
                yield check_entity(item.entity, self.limits)
            except RowProblem as problem:
                yield BadRow.of(item.entity.location, problem, source_id=item.entity.source_id, raw=item.raw)

    def skipped_unmapped(self) -> dict[str, Any]:
        """Entities skipped because no class of theirs is mapped in seeds.yaml, with the top classes by name."""
        top = [{"class": qid, "label": self.labels.get(qid, ""), "entities": n}
               for qid, n in sorted(self.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_CLASSES]]
        return {"entities": self.skipped["unmapped"], "top_classes": top}

    def _rows(self, extract: Extract) -> tuple[list, list, list]:
        """The domain's entities and bad rows in dump order, and the labels their values name."""
        where, params = [], []
        if self.wanted.ids:
            where.append("list_contains(?::VARCHAR[], id)")
            params.append(sorted(self.wanted.ids))
        if self.wanted.instance_of:
            where.append("list_has_any(classes, ?::VARCHAR[])")
            params.append(sorted(self.wanted.instance_of))
        wanted = " AND ".join(where) or "true"
        # A bad row is the domain's unless its id or the classes its bytes name say otherwise.
        bad_where = []
        if self.wanted.ids:
            bad_where.append("(source_id IS NULL OR list_contains(?::VARCHAR[], source_id))")
        if self.wanted.instance_of:
            bad_where.append("list_has_any(classes, ?::VARCHAR[])")
        with duckdb.connect() as con:
            entities = con.execute(
                f"SELECT line, id, classes, entity, raw FROM read_parquet('{extract.file('entities')}') "
                f"WHERE {wanted} ORDER BY line", params).fetchall()
            bad = con.execute(
                f"SELECT line, reason, detail, source_id, raw FROM read_parquet('{extract.file('bad_rows')}') "
                f"WHERE {' AND '.join(bad_where) or 'true'} ORDER BY line", params).fetchall()
            labels = con.execute(
                f"SELECT id, labels FROM read_parquet('{extract.file('labels')}') WHERE id IN "
                f"(SELECT unnest(refs) FROM read_parquet('{extract.file('entities')}') WHERE {wanted})", params).fetchall()
        return entities, bad, labels

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

    def _facts(self, obj: dict[str, Any]) -> list[tuple[str, list[str | _Ref]]]:
        facts = []
        values = obj.get("values") or {}
        for pid, names in self.vocabulary.properties.items():
            name = names.get(self.language) or names["en"]
            parts = [p for p in (self._value(v) for v in values.get(pid) or []) if p]
            for part in parts[: self.settings.values_per_property]:
                facts.append((name, part))
        return facts

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
