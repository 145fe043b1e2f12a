"""Prompt echo: the draft repeats the prompt's instructions ("Write for young children aged 5 to 8…").

Only the instruction text counts: the outline lines (section titles and the facts under them), the
title and the seed's description are meant to be in the article, so they are taken out of the prompt
before its word n-grams are compared with the draft's.
"""

from __future__ import annotations

import re

from cosmo_assets.filters.claim_words import fold

_OUTLINE_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s")
_WORDS = re.compile(r"[^\W_]+")


def instruction_text(prompt: str, title: str = "", description: str = "") -> str:
    """The prompt without its outline lines, title and description."""
    kept = [line for line in (prompt or "").splitlines() if line.strip() and not _OUTLINE_LINE.match(line)]
    text = "\n".join(kept)
    for part in (title, (description or "").strip().rstrip(".")):
        if part:
            text = text.replace(part, " ")
    return text


def _grams(text: str, n: int) -> list[tuple[str, ...]]:
    words = _WORDS.findall(fold(text))
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def echo_share(draft: str, instructions: str, n: int = 5) -> float:
    """Share of the instructions' word n-grams that the draft repeats (0 when the instructions are shorter)."""
    wanted = set(_grams(instructions, n))
    if not wanted:
        return 0.0
    return len(wanted & set(_grams(draft, n))) / len(wanted)
