"""Outlines proposed by the model: a JSON answer checked against a schema, mapped back onto the seed's facts."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cosmo_assets.outlining.structure import PlannedSection


class ProposedSection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    heading: str = Field(min_length=1, max_length=120)
    facts: list[int] = Field(default_factory=list)


class ProposedOutline(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sections: list[ProposedSection] = Field(min_length=2, max_length=8)


class ProposalError(ValueError):
    """The model's answer is not an outline we can use; the structural outline stands in."""


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_proposal(answer: str | None, facts: list[dict[str, str]]) -> list[PlannedSection]:
    """Sections from the model's JSON; facts are numbered from 1. Every fact ends up in the outline: one the model
    left out goes to the last section, so the article is still asked to use it."""
    if not answer:
        raise ProposalError("empty answer")
    match = _JSON_OBJECT.search(answer)
    if not match:
        raise ProposalError("no JSON object in the answer")
    try:
        proposal = ProposedOutline.model_validate(json.loads(match.group(0)))
    except json.JSONDecodeError as exc:
        raise ProposalError(f"not valid JSON ({exc.msg})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProposalError(f"does not fit the schema: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None
    placed: set[int] = set()
    sections = []
    for proposed in proposal.sections:
        numbers = [n for n in proposed.facts if 1 <= n <= len(facts) and n not in placed]
        placed.update(numbers)
        sections.append(PlannedSection(" ".join(proposed.heading.split()), [facts[n - 1] for n in numbers]))
    sections[-1].facts.extend(f for i, f in enumerate(facts, start=1) if i not in placed)
    return sections
