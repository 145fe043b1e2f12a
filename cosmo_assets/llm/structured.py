"""Structured output: ask for JSON that follows a schema (`response_format`) and check the answer against it."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


class UnparseableAnswer(ValueError):
    """A model answered with something that is not JSON following the requested schema."""


def json_schema_format(name: str, schema: type[BaseModel] | dict[str, Any], strict: bool = True) -> dict[str, Any]:
    """The OpenAI-style `response_format` asking for JSON that follows `schema` (a pydantic model or a JSON schema)."""
    body = schema.model_json_schema() if isinstance(schema, type) and issubclass(schema, BaseModel) else schema
    return {"type": "json_schema", "json_schema": {"name": name, "schema": body, "strict": strict}}


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_answer(text: str, response_format: dict[str, Any]) -> Any:
    """The answer as a Python object, or UnparseableAnswer saying what was expected and what came."""
    name = response_format.get("json_schema", {}).get("name", "the requested schema")
    body = text.strip()
    if body.startswith("```"):
        # Models often fence JSON in markdown even when asked not to; the fence is not part of the answer.
        body = body.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise UnparseableAnswer(
            f"unparseable answer: expected JSON following schema '{name}', got text that is not JSON "
            f"({exc.msg} at line {exc.lineno} column {exc.colno}): {_excerpt(text)!r}"
        ) from None
    schema = response_format.get("json_schema", {}).get("schema")
    if schema:
        import jsonschema

        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
            raise UnparseableAnswer(
                f"unparseable answer: JSON does not follow schema '{name}' at {where}: {exc.message}: {_excerpt(text)!r}"
            ) from None
    return value
