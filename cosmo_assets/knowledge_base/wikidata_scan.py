"""One block of a Wikidata dump's lines scanned into extract rows: cheap byte tests first, a JSON parse only for
entities some domain may want. Runs in worker processes, so it knows only plain data (a ScanPlan).

Per line, in this order:
- the id is read from the first bytes (dumps write "type" and "id" first); lexemes and properties are
  counted and skipped, though a property's labels are kept like any item's (a value may name one);
- the labels object alone is parsed (it comes right after the id in dumps) and kept for every item,
  so item values can be named from this one pass: the labels a domain needs are joined at the end;
- the raw bytes must name a wanted id or one of a domain's instance-of classes ("Q5" in quotes, or
  as a numeric-id) before the line is parsed: most of a full dump (scholarly articles, stars, genes)
  stops here, unparsed;
- a parsed entity is kept when a domain's id and class filters want it, slimmed to the languages,
  properties and statements that seeds read. Keyword filters are applied per partition.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from cosmo_assets.knowledge_base.records import (
    BAD_ENCODING,
    INVALID_ROW,
    MALFORMED_JSON,
    OVERSIZED_FIELD,
    clip_raw,
)

_ENTITY_ID = re.compile(rb'"id"\s*:\s*"([QPL][0-9]+)"')
_ID_WINDOW = 300
_REDIRECT_BYTES = 1000
_LABELS = re.compile(rb'"labels"\s*:\s*')
_AFTER_LABELS = re.compile(rb'\s*,\s*"descriptions"\s*:')
_NUMERIC_ID = re.compile(rb'"numeric-id"\s*:\s*([0-9]+)')
_NUMERIC_THEN_ID = re.compile(rb'"numeric-id"\s*:\s*[0-9]+\s*,\s*"id"')
_ITEM_URI = "http://www.wikidata.org/entity/"
CLASS_PROPERTY = "P31"

# What a line that is not kept counts as (the scan's `skipped` figures).
SKIPPED_LEXEME, SKIPPED_PROPERTY, SKIPPED_REDIRECT, OUTSIDE_DOMAINS = "lexemes", "properties", "redirects", "outside_domains"


@dataclass(frozen=True)
class DomainPrefilter:
    """What one domain's filters say about a line before it is parsed; None: that filter is not set."""

    ids: frozenset[str] | None
    classes: frozenset[str] | None


@dataclass(frozen=True)
class ScanPlan:
    domains: tuple[DomainPrefilter, ...]
    languages: tuple[str, ...]  # every enabled language and label fallback
    properties: tuple[str, ...]  # P31 and the properties seeds turn into facts
    row_bytes: int

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(c for d in self.domains for c in d.classes or ())


@dataclass
class BlockResult:
    """What one block of lines gave: kept entities, labels of every item, bad rows, and the counts."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    labels: list[tuple[str, int, str]] = field(default_factory=list)  # (id, line, labels JSON)
    bad: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    lines: int = 0


class _Problem(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class BlockScanner:
    """Scans blocks of whole lines under one plan; the class tokens are built once per process."""

    def __init__(self, plan: ScanPlan):
        self.plan = plan
        self.languages = set(plan.languages)
        self.tokens = {c: f'"{c}"'.encode() for c in plan.classes}
        self.numeric = {int(c[1:]): c for c in plan.classes}

    def scan(self, block: bytes, first_line: int) -> BlockResult:
        result = BlockResult()
        for line_no, raw in enumerate(block.split(b"\n"), start=first_line):
            line = _entity_bytes(raw)
            if not line:
                continue
            result.lines += 1
            self._line(line, line_no, result)
        return result

    def _line(self, line: bytes, line_no: int, result: BlockResult) -> None:
        match = _ENTITY_ID.search(line, 0, _ID_WINDOW)
        qid = match.group(1).decode("ascii") if match else None
        if qid and qid[0] == "L":
            result.skipped[SKIPPED_LEXEME] += 1
            return
        if qid and len(line) <= self.plan.row_bytes:
            labels = self._labels(line)
            if labels:
                result.labels.append((qid, line_no, labels))
        if qid and qid[0] == "P":
            result.skipped[SKIPPED_PROPERTY] += 1
            return
        if len(line) < _REDIRECT_BYTES and b'"redirects"' in line:  # a redirect is a short line: no labels, no claims
            try:
                if "redirects" in orjson.loads(line):
                    result.skipped[SKIPPED_REDIRECT] += 1
                    return
            except (orjson.JSONDecodeError, TypeError):
                pass  # not valid JSON: parsed below if a domain may want it, and quarantined
        found = self._classes_named(line)
        if not any((d.ids is None or qid is None or qid in d.ids) and (d.classes is None or d.classes & found)
                   for d in self.plan.domains):
            result.skipped[OUTSIDE_DOMAINS] += 1  # never parsed: the bulk of a full dump
            return
        try:
            obj = self._parse(line)
        except _Problem as problem:
            result.bad.append({"line": line_no, "reason": problem.reason, "detail": problem.detail, "source_id": qid,
                               "raw": clip_raw(line), "classes": sorted(found)})
            return
        if obj.get("type") != "item":
            result.skipped[SKIPPED_LEXEME if obj.get("type") == "lexeme" else SKIPPED_PROPERTY] += 1
            return
        if "redirects" in obj:
            result.skipped[SKIPPED_REDIRECT] += 1
            return
        kept = self._slim(obj, line, line_no)
        classes = set(kept["classes"])
        if any((d.ids is None or obj["id"] in d.ids) and (d.classes is None or d.classes & classes)
               for d in self.plan.domains):
            result.entities.append(kept)
        else:
            result.skipped[OUTSIDE_DOMAINS] += 1

    def _classes_named(self, line: bytes) -> frozenset[str]:
        """The domains' classes this line names anywhere: a superset of its instance-of classes."""
        found = {c for c, token in self.tokens.items() if token in line}
        if len(found) < len(self.tokens) and b'"numeric-id"' in line and not _NUMERIC_THEN_ID.search(line):
            # Old dumps name item values by numeric id only.
            found |= {self.numeric[n] for n in map(int, _NUMERIC_ID.findall(line)) if n in self.numeric}
        return frozenset(found)

    def _labels(self, line: bytes) -> str | None:
        """The labels in the plan's languages as JSON, from the labels object alone when it can be cut out."""
        start = _LABELS.search(line, 0, _ID_WINDOW + 200)
        end = _AFTER_LABELS.search(line, start.end()) if start else None
        labels = None
        if end is not None:
            try:
                labels = orjson.loads(line[start.end():end.start()])
            except orjson.JSONDecodeError:
                labels = None
        if labels is None:
            try:  # labels not first, or not cut cleanly: parse the whole line
                labels = orjson.loads(line).get("labels")
            except (orjson.JSONDecodeError, AttributeError):
                return None
        if not isinstance(labels, dict):
            return None
        wanted = {code: entry for code, entry in labels.items() if code in self.languages}
        return orjson.dumps(wanted).decode() if wanted else None

    def _parse(self, line: bytes) -> dict[str, Any]:
        if len(line) > self.plan.row_bytes:
            raise _Problem(OVERSIZED_FIELD, f"the row is {len(line)} bytes, more than limits.row_bytes={self.plan.row_bytes}")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Problem(BAD_ENCODING, f"not valid UTF-8: byte {line[exc.start]:#04x} at offset {exc.start}") from None
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:  # the standard parser's message says where, as quarantine details always have
                json.loads(text)
                detail = "not valid JSON"
            except json.JSONDecodeError as exc:
                detail = f"not valid JSON ({exc.msg} at column {exc.colno})"
            raise _Problem(MALFORMED_JSON, detail) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise _Problem(INVALID_ROW, "expected a Wikidata entity: a JSON object with an 'id'")
        for key in ("labels", "descriptions", "aliases", "claims"):
            if not isinstance(obj.get(key, {}), dict):
                raise _Problem(INVALID_ROW, f"field '{key}': expected an object keyed by language or property")
        return obj

    def _slim(self, obj: dict[str, Any], line: bytes, line_no: int) -> dict[str, Any]:
        """The entity as seeds read it: texts in the plan's languages, the chosen values of the plan's properties."""
        claims = obj.get("claims") or {}
        values = {pid: chosen_values(claims.get(pid)) for pid in self.plan.properties}
        values = {pid: v for pid, v in values.items() if v}
        classes = [ref for ref in map(_item_ref, values.get(CLASS_PROPERTY, ())) if ref]
        refs = {ref for vs in values.values() for v in vs for ref in (_item_ref(v), _unit_ref(v)) if ref}
        slim = {key: {code: v for code, v in (obj.get(key) or {}).items() if code in self.languages}
                for key in ("labels", "descriptions", "aliases")}
        slim["values"] = values
        return {"line": line_no, "id": obj["id"], "classes": classes, "refs": sorted(refs),
                "entity": orjson.dumps(slim).decode(), "raw": clip_raw(line)}


def chosen_values(statements: Any) -> list[dict[str, Any]]:
    """The datavalues seeds read from one property's statements: preferred ones if any, else all but
    deprecated ones; "no value" and "unknown value" say nothing to write about."""
    if not isinstance(statements, list):
        return []
    kept = [s for s in statements if isinstance(s, dict) and s.get("rank") != "deprecated"]
    preferred = [s for s in kept if s.get("rank") == "preferred"]
    values = []
    for statement in preferred or kept:
        snak = statement.get("mainsnak") or {}
        if snak.get("snaktype") == "value":
            values.append(snak.get("datavalue") or {})
    return values


def _item_ref(datavalue: dict[str, Any]) -> str | None:
    value = datavalue.get("value")
    if datavalue.get("type") != "wikibase-entityid" or not isinstance(value, dict):
        return None
    return value.get("id") or (f"Q{value['numeric-id']}" if "numeric-id" in value else None)


def _unit_ref(datavalue: dict[str, Any]) -> str | None:
    value = datavalue.get("value")
    if datavalue.get("type") != "quantity" or not isinstance(value, dict):
        return None
    unit = str(value.get("unit", "1"))
    return unit.removeprefix(_ITEM_URI) if unit != "1" else None


def _entity_bytes(raw: bytes) -> bytes:
    """A dump line without the array's punctuation: an entity is an object, so "[" and "]" are the array's."""
    line = raw.strip()
    if line.startswith(b"["):
        line = line[1:].lstrip()
    if line.endswith(b","):
        line = line[:-1].rstrip()
    if line.endswith(b"]"):
        line = line[:-1].rstrip()
    return line
