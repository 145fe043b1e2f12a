"""Dates in fact values: found and ordered for timelines, and written the same way by every adapter."""

from __future__ import annotations

import re
from dataclasses import dataclass

# How each instruction language marks a year before the common era.
ERA = {"en": "BC", "fr": "av. J.-C.", "es": "a. C.", "de": "v. Chr."}
_ERA_WORDS = r"(?:BCE|BC|av\. J\.-C\.|a\. C\.|v\. Chr\.)"
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|"
    "januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember"
)
_ISO = re.compile(r"^(\d{3,4})-(\d\d)(?:-(\d\d))?\b")
_BCE = re.compile(rf"\b(\d{{1,4}})\s*{_ERA_WORDS}")
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})\.?\s+(?:de\s+)?({_MONTHS})\s+(?:de\s+)?(\d{{3,4}})\b", re.IGNORECASE)
_PAREN_YEAR = re.compile(r"\((\d{3,4})(?:\s*[–-]\s*\d{2,4})?\)")
_IN_YEAR = re.compile(r"\b(?:in|en|im)\s+(\d{3,4})\b")
_LEADING_YEAR = re.compile(r"^(?:c\.\s*|circa\s+|ca\.\s*)?(\d{1,4})(?=$|[\s,;–)(-])")
# A bare number is a year only where the property says it holds one ("born: 1564", not "length: 446 km").
_DATED_PROPERTY = re.compile(
    r"\b(born|birth|died|death|date|year|founded|inception|start|end|published|publication|released|"
    r"discover|opened|completed|premiered|reign|era|first ascent|independence|established|built|point in time|time)",
    re.IGNORECASE,
)
_MONTH_NUMBER = {name: (i % 12) + 1 for i, name in enumerate(_MONTHS.split("|"))}


@dataclass(frozen=True, order=True)
class FactDate:
    year: int  # negative before the common era
    month: int = 0
    day: int = 0

    def label(self, language: str) -> str:
        return f"{-self.year} {ERA.get(language, ERA['en'])}" if self.year < 0 else str(self.year)


def fact_date(prop: str, value: str) -> FactDate | None:
    """The date a fact states, if it states one; `prop` is the (English) property name."""
    value = value.strip()
    if m := _ISO.match(value):
        return FactDate(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if m := _BCE.search(value):
        return FactDate(-int(m.group(1)))
    if m := _DAY_MONTH_YEAR.search(value):
        return FactDate(int(m.group(3)), _MONTH_NUMBER.get(m.group(2).lower(), 0), int(m.group(1)))
    if m := _PAREN_YEAR.search(value):
        return FactDate(int(m.group(1)))
    if m := _IN_YEAR.search(value):
        return FactDate(int(m.group(1)))
    if _DATED_PROPERTY.search(prop) and (m := _LEADING_YEAR.match(value)):
        return FactDate(int(m.group(1)))
    return None
