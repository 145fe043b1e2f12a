"""The bundled curated knowledge base: one JSON object per line (id, title, topic_type, description, facts, keywords)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cosmo_assets.config import SeedLimits
from cosmo_assets.knowledge_base.records import (
    INVALID_ROW,
    MALFORMED_JSON,
    MISSING_TITLE,
    BadRow,
    Entity,
    EntityFilter,
    RowProblem,
    check_entity,
    decode_line,
    open_binary,
)

_FIELDS = {"id", "title", "topic_type", "description", "facts", "keywords", "instance_of"}


def read_curated_jsonl(path: Path, wanted: EntityFilter, limits: SeedLimits) -> Iterator[Entity | BadRow]:
    with open_binary(path) as stream:
        for line_no, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            where = f"line {line_no}"
            try:
                obj = _parse(decode_line(raw.rstrip(b"\r\n"), limits))
            except RowProblem as problem:
                yield BadRow.of(where, problem, raw=raw)
                continue
            source_id = obj.get("id") if isinstance(obj.get("id"), str) else None
            keywords = obj.get("keywords") if isinstance(obj.get("keywords"), list) else []
            texts = [obj.get("title"), obj.get("description"), *keywords]
            if not wanted.wants(source_id, _strings(obj.get("instance_of")), [t for t in texts if isinstance(t, str)]):
                continue
            try:
                entity = check_entity(_entity(obj, where), limits)
            except RowProblem as problem:
                yield BadRow.of(where, problem, source_id=source_id, raw=raw)
                continue
            yield entity


def _parse(line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RowProblem(MALFORMED_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise RowProblem(INVALID_ROW, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _entity(obj: dict[str, Any], where: str) -> Entity:
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise RowProblem(INVALID_ROW, f"fields {unknown} are not known; expected some of {sorted(_FIELDS)}")
    source_id = obj.get("id")
    if not isinstance(source_id, str) or not source_id.strip():
        raise RowProblem(INVALID_ROW, "field 'id': expected a non-empty string")
    title = obj.get("title")
    if title is None or (isinstance(title, str) and not title.strip()):
        raise RowProblem(MISSING_TITLE, "field 'title' is missing or blank")
    if not isinstance(title, str):
        raise RowProblem(INVALID_ROW, f"field 'title': expected a string, got {type(title).__name__}")
    description = obj.get("description") or ""
    if not isinstance(description, str):
        raise RowProblem(INVALID_ROW, f"field 'description': expected a string, got {type(description).__name__}")
    topic_type = obj.get("topic_type")
    if not isinstance(topic_type, str):
        topic_type = "" if topic_type is None else str(topic_type)
    facts = obj.get("facts") or []
    if not isinstance(facts, list):
        raise RowProblem(INVALID_ROW, "field 'facts': expected a list of {property, value}")
    clean_facts = []
    for i, fact in enumerate(facts):
        if not isinstance(fact, dict) or set(fact) != {"property", "value"}:
            raise RowProblem(INVALID_ROW, f"field 'facts.{i}': expected an object with exactly 'property' and 'value'")
        for key in ("property", "value"):
            if not isinstance(fact[key], str) or not fact[key].strip():
                raise RowProblem(INVALID_ROW, f"field 'facts.{i}.{key}': expected a non-empty string")
        clean_facts.append({"property": fact["property"], "value": fact["value"]})
    keywords = obj.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise RowProblem(INVALID_ROW, "field 'keywords': expected a list of strings")
    return Entity(
        source_id=source_id,
        title=title.strip(),
        topic_type=topic_type,
        description=description.strip(),
        facts=clean_facts,
        keywords=keywords,
        instance_of=_strings(obj.get("instance_of")),
        location=where,
    )


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
