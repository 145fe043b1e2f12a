"""An article against its own plan: which outline sections it covers, whether its shape fits its content
type, which of the seed facts it states, and which dated facts it contradicts.

Numbers and dates are normalised before comparing ("6,650" is 6650; "15 April 1452", "April 15th, 1452"
and "1452-04-15" are one date), so a fact stated in other words still counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

import polars as pl

from cosmo_assets.config import ShapeRule

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(\d{3,4})"
_ISO = re.compile(r"\b(\d{3,4})-(\d{2})-(\d{2})\b")
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b")
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b")
_MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b")
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0](?=\d{3}\b)")
_TOKEN = re.compile(r"\d{3,4}-\d{2}(?:-\d{2})?|\d+(?:\.\d+)?|[^\W\d_]+")
_YEAR_TOKEN = re.compile(r"^\d{3,4}$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

# Words that say which dated event a sentence is about, per kind of dated fact.
DATE_CUES: dict[str, tuple[str, ...]] = {
    "born": ("born", "birth"),
    "birth": ("born", "birth"),
    "died": ("died", "death", "passed"),
    "death": ("died", "death", "passed"),
    "founded": ("founded", "established", "formed", "created"),
    "established": ("founded", "established"),
    "published": ("published", "publication"),
    "released": ("released", "release"),
    "start": ("began", "begun", "started", "start", "broke out"),
    "end": ("ended", "end", "concluded"),
    "opened": ("opened",),
    "built": ("built", "completed", "construction"),
    "discovered": ("discovered", "discovery"),
    "proposed": ("proposed",),
}

_STOP = frozenset(
    "a an the of and or in on at to for by with from as is was were be been its it this that these those "
    "about into than then over under c".split()
)


def normalise(text: str) -> str:
    """Lower case, accents off, thousands separators dropped, dates rewritten as ISO (yyyy-mm-dd or yyyy-mm)."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii").lower()
    text = _THOUSANDS.sub("", text)
    text = _ISO.sub(lambda m: f"{int(m[1]):04d}-{m[2]}-{m[3]}", text)
    text = _DAY_MONTH_YEAR.sub(lambda m: f"{int(m[3]):04d}-{MONTHS[m[2]]:02d}-{int(m[1]):02d}", text)
    text = _MONTH_DAY_YEAR.sub(lambda m: f"{int(m[3]):04d}-{MONTHS[m[1]]:02d}-{int(m[2]):02d}", text)
    return _MONTH_YEAR.sub(lambda m: f"{int(m[2]):04d}-{MONTHS[m[1]]:02d}", text)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def _years(found: Iterable[str]) -> set[str]:
    years = set()
    for token in found:
        if _YEAR_TOKEN.match(token):
            years.add(token.lstrip("0") or "0")
        elif "-" in token:
            years.add(token.split("-")[0].lstrip("0"))
    return years


def _stem(word: str) -> str:
    # Crude, language-neutral: "achievements" and "achieved" share "achie".
    return word[:5]


def fact_stated(fact_value: str, article_tokens: set[str], article_stems: set[str]) -> bool:
    """A fact is stated when its numbers and dates all appear and at least half of its other words do."""
    value_tokens = tokens(fact_value)
    numbers = [t for t in value_tokens if t[0].isdigit()]
    words = [t for t in value_tokens if not t[0].isdigit() and t not in _STOP]
    for number in numbers:
        if number in article_tokens:
            continue
        # A full date also counts when the article gives its year.
        if "-" in number and number.split("-")[0] in article_tokens:
            continue
        return False
    if not words:
        return bool(numbers)
    found = sum(1 for w in words if w in article_tokens or _stem(w) in article_stems)
    return found * 2 >= len(words)


def _date_cues(prop: str) -> tuple[str, ...]:
    prop = prop.lower()
    cues: list[str] = []
    for key, words in DATE_CUES.items():
        if key in prop:
            cues.extend(words)
    return tuple(dict.fromkeys(cues))


def contradictions(facts: Iterable[Mapping[str, str]], article: str) -> list[str]:
    """Dated facts the article contradicts: a sentence about the same kind of event (born, died, founded,
    ...) gives years, and none of them is the fact's year."""
    found = []
    sentences = [s for s in _SENTENCE.split(normalise(article)) if s.strip()]
    for fact in facts:
        prop, value = fact.get("property") or "", fact.get("value") or ""
        fact_years = _years(tokens(value))
        cues = _date_cues(prop)
        if len(fact_years) != 1 or not cues:
            continue  # only a single dated event can be contradicted with confidence
        for sentence in sentences:
            if not any(re.search(rf"\b{re.escape(cue)}\b", sentence) for cue in cues):
                continue
            said = _years(_TOKEN.findall(sentence))
            if said and not (said & fact_years):
                found.append(f"{prop}: article says {', '.join(sorted(said))}, seed says {value}")
                break
    return found


def section_covered(section: str, article_lower: str, article_stems: set[str]) -> bool:
    """Covered when the section's title appears, or at least half of its content words (by stem) do."""
    title = section.lower().strip()
    if title and title in article_lower:
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", title) if w not in _STOP]
    if not words:
        return False
    return sum(1 for w in words if _stem(w) in article_stems) * 2 >= len(words)


_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|step\s+\d+|[-*•]\s)", re.I)
_SPEECH = re.compile(r"[\"“”«»]")


def shape_measures(text: str) -> dict[str, float]:
    text = text or ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) <= 1:
        paragraphs = [p for p in text.split("\n") if p.strip()]
    lines = [line for line in text.split("\n") if line.strip()]
    listed = sum(1 for line in lines if _NUMBERED.match(line))
    return {
        "paragraphs": len(paragraphs),
        "numbered_lines": listed,
        "list_line_share": listed / len(lines) if lines else 0.0,
        "speech_marks": len(_SPEECH.findall(text)),
    }


def shape_fits(text: str, rule: ShapeRule | None) -> bool:
    if rule is None:
        return True
    m = shape_measures(text)
    return (
        m["paragraphs"] >= rule.min_paragraphs
        and m["numbered_lines"] >= rule.min_numbered_lines
        and m["list_line_share"] <= rule.max_list_line_share
        and m["speech_marks"] >= rule.min_speech_marks
    )


ALIGNMENT_SCHEMA = {
    "section_coverage": pl.Float64,
    "shape_fits": pl.Boolean,
    "fact_coverage": pl.Float64,
    "contradicted_facts": pl.List(pl.String),
}


def align(drafts: pl.DataFrame, outlines: pl.DataFrame | None, shapes: Mapping[str, ShapeRule]) -> pl.DataFrame:
    """Per draft (in order): section_coverage, shape_fits, fact_coverage and the facts it contradicts.

    Null where the draft has no outline (or the outline lists no sections or facts): nothing to judge.
    """
    plans: dict[str, dict] = {}
    if outlines is not None and outlines.height:
        for row in outlines.select("outline_id", "content_type", "sections", "required_facts").iter_rows(named=True):
            plans[row["outline_id"]] = row
    rows = []
    for outline_id, text in zip(drafts["outline_id"].to_list(), drafts["text"].to_list()):
        plan = plans.get(outline_id)
        if plan is None or not text:
            rows.append({"section_coverage": None, "shape_fits": None if plan is None else False,
                         "fact_coverage": None, "contradicted_facts": []})
            continue
        article_tokens = set(tokens(text))
        article_stems = {_stem(t) for t in article_tokens}
        lower = normalise(text)
        sections = plan["sections"] or []
        facts = plan["required_facts"] or []
        rows.append(
            {
                "section_coverage": (
                    sum(section_covered(s, lower, article_stems) for s in sections) / len(sections) if sections else None
                ),
                "shape_fits": shape_fits(text, shapes.get(plan["content_type"])),
                "fact_coverage": (
                    sum(fact_stated(f["value"] or "", article_tokens, article_stems) for f in facts) / len(facts)
                    if facts else None
                ),
                "contradicted_facts": contradictions(facts, text),
            }
        )
    return pl.DataFrame(rows, schema=ALIGNMENT_SCHEMA)
