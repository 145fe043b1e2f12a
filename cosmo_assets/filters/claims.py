"""The article's specific claims against its seed: every date, number (with its magnitude and unit) and
proper name in the text is looked up in the seed's facts, description and title.

A claim the seed holds is supported. One it does not hold is unsupported, and it contradicts a fact when
it stands where that fact belongs: a date in the same year as a dated fact but on another day, or a
year, number or name in a sentence that speaks of the fact (its property's words, its unit) without
the fact's own value. A fact counts as stated only when its value is: its full date (or its year beside
the fact's cue), its numbers, and at least half of its other words.

Month names, magnitude words and number formats are read for en, fr, es and de; proper names are read
in en, fr and es only (German capitalises every noun).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cosmo_assets.filters.claim_words import (
    AD,
    BARE_YEAR,
    DATE_CUES,
    DATE_PATTERNS,
    ERA,
    MAGNITUDES,
    MIN_COUNTED_NUMBER,
    MONTHS,
    NAME_JOINERS,
    NOT_NAMES,
    NOT_YEAR_AFTER,
    NUMBER,
    OPENING_WORDS,
    SENTENCE,
    STOP,
    WORD,
    fold,
)


@dataclass(frozen=True)
class Claim:
    kind: str  # date, number or name
    key: tuple  # (year, month, day) | (value, unit) | (folded words)
    text: str
    sentence: int


def _number_value(raw: str, language: str) -> float | None:
    """"6,650" is 6650 in English; "9,2" is 9.2 and "1.675" is 1675 in French, Spanish and German."""
    if language == "en":
        cleaned = raw.replace(",", "")
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw):
        cleaned = raw.replace(".", "")
    else:
        cleaned = raw.replace(".", "").replace(",", ".") if "," in raw else raw
    try:
        return float(cleaned)
    except ValueError:
        return None


def _unit(after: str) -> str:
    """The word right after a number (its first 4 letters): "km", "peop"; none across punctuation."""
    symbol = after.lstrip()[:1]
    if symbol and symbol in "%°":
        return symbol
    m = re.match(r"\s?([^\W\d_]+)", after)
    if not m:
        return ""
    word = m.group(1)
    return "" if word in STOP or word in MAGNITUDES else word[:4]


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE.split(text or "") if s.strip()]


def _dates_and_numbers(sentence: str, index: int, language: str) -> list[Claim]:
    folded = fold(sentence)
    if language != "en":  # "1 700" in French: a space marks thousands
        folded = re.sub(r"(?<=\d) (?=\d{3}\b)", "", folded)
    taken = [False] * len(folded)
    claims = []

    def free(m) -> bool:
        return not any(taken[m.start() : m.end()])

    def take(m) -> None:
        taken[m.start() : m.end()] = [True] * (m.end() - m.start())

    for pattern, fields in DATE_PATTERNS:
        for m in pattern.finditer(folded):
            if not free(m):
                continue
            got = dict(zip(fields, m.groups()))
            month = int(got["m"]) if "m" in got else MONTHS.get(got.get("mn", ""), 0)
            claims.append(Claim("date", (int(got["y"]), month, int(got.get("d") or 0)), m.group(0), index))
            take(m)
    for pattern, sign in ((ERA, None), (AD, 1)):
        for m in pattern.finditer(folded):
            if free(m):
                era = m.group(2) if sign is None else "ad"
                negative = era.startswith(("bc", "av", "a.", "v."))
                claims.append(Claim("date", (-int(m.group(1)) if negative else int(m.group(1)), 0, 0), m.group(0), index))
                take(m)
    for m in BARE_YEAR.finditer(folded):
        if free(m) and not NOT_YEAR_AFTER.match(folded[m.end():]) and not re.match(r"\s*(?:" + "|".join(MAGNITUDES) + r")\b", folded[m.end():]):
            claims.append(Claim("date", (int(m.group(1)), 0, 0), m.group(0), index))
            take(m)
    for m in NUMBER.finditer(folded):
        if not free(m):
            continue
        value = _number_value(m.group(1), language)
        if value is None:
            continue
        rest = folded[m.end():]
        scale = re.match(r"\s*(" + "|".join(MAGNITUDES) + r")\b", rest)
        if scale:
            value *= MAGNITUDES[scale.group(1)]
            rest = rest[scale.end():]
        if value.is_integer() and value < MIN_COUNTED_NUMBER and not scale:
            continue
        claims.append(Claim("number", (value, _unit(rest)), m.group(0), index))
    return claims


def _names(sentence: str, index: int, common: frozenset[str] = frozenset()) -> list[Claim]:
    """Runs of capitalised words; a run that only opens the sentence (or a quotation) is not a name. The
    sentence's first word is left out of a run when it is a function word ("Although Stravinsky", "Cette
    œuvre") or one the text writes in lower case elsewhere (`common`): capitalised for the sentence only."""
    claims = []
    tokens = list(re.finditer(r"[^\W\d_][\w'’-]*", sentence))
    run: list[str] = []
    opens = False

    def close() -> None:
        words = [re.sub(r"['’]s$", "", w) for w in run]
        if opens and words and (fold(words[0]) in STOP or fold(words[0]) in OPENING_WORDS or fold(words[0]) in common):
            words = words[1:]  # "In Memphis", "Suddenly Mia": the first word is capitalised for the sentence
        words = [w for w in words if fold(w) not in NOT_NAMES and not fold(w).startswith("i'")]
        while words and fold(words[-1]) in NAME_JOINERS:
            words.pop()
        capitalised = [w for w in words if fold(w) not in NAME_JOINERS]
        if capitalised and not (opens and len([w for w in run if w[0].isupper()]) == 1):
            key = tuple(part for w in capitalised for part in re.split(r"[-'’]", fold(w)) if part)
            claims.append(Claim("name", key, " ".join(words), index))

    for i, m in enumerate(tokens):
        word = m.group(0)
        before = sentence[tokens[i - 1].end() : m.start()] if i else sentence[: m.start()]
        starts = i == 0 or bool(re.search(r"[\"“«„:—]\s*$|[.!?]\s*$", before))
        if word[0].isupper() and not word.isupper() or (word.isupper() and len(word) > 1 and run):
            if run and re.search(r"[,;:()\"”»]", before):
                close()
                run = []
            if not run:
                opens = starts
            run.append(word)
        elif run and fold(word) in NAME_JOINERS and not re.search(r"[,;]", before):
            run.append(word)
        else:
            if run:
                close()
            run = []
    if run:
        close()
    return [c for c in claims if c.key]


def extract(text: str, language: str) -> list[Claim]:
    """Every date, number and (in en, fr, es) proper name the text states, sentence by sentence; heading
    lines and forum signatures (short lines without end punctuation) are left out."""
    claims = []
    common = frozenset(fold(w) for w in re.findall(r"(?<![\w'’-])[^\W\d_A-Z][\w'’-]*", text or "") if w[0].islower())
    for index, sentence in enumerate(sentences(text)):
        stripped = sentence.strip().strip("*#_ ")
        if len(stripped.split()) <= 8 and not re.search(r"[.!?…:]$", stripped) or stripped.endswith(":") and len(stripped.split()) <= 8:
            names = []
        else:
            names = _names(stripped, index, common) if language in ("en", "fr", "es") else []
        claims += _dates_and_numbers(stripped, index, language) + names
    return claims


@dataclass
class Seed:
    """What a seed can support: its dates, numbers and words (title, description, fact values and properties)."""

    dates: list[tuple[int, int, int]] = field(default_factory=list)
    numbers: list[tuple[float, str]] = field(default_factory=list)
    words: set[str] = field(default_factory=set)


def seed_grounds(facts: Iterable[Mapping[str, str]], title: str = "", description: str = "") -> Seed:
    seed = Seed()
    texts = [title or "", description or ""] + [f"{f.get('property') or ''}: {f.get('value') or ''}" for f in facts]
    for text in texts:
        for claim in _dates_and_numbers(text, 0, "en"):
            (seed.dates if claim.kind == "date" else seed.numbers).append(claim.key)
        seed.words |= set(WORD.findall(fold(text)))
        # Every number written in the seed also supports the same number as a plain count.
        seed.numbers += [(v, "") for v in (_number_value(n, "en") for n in NUMBER.findall(text)) if v is not None]
    seed.dates += [(y, 0, 0) for y, _ in ((int(v), u) for v, u in seed.numbers if v.is_integer() and 100 <= v <= 2100)]
    return seed


def _date_matches(said: tuple[int, int, int], known: tuple[int, int, int]) -> bool:
    return said[0] == known[0] and (not said[1] or not known[1] or said[1] == known[1]) and (
        not said[2] or not known[2] or said[2] == known[2])


def _number_matches(value: float, known: float) -> bool:
    return abs(value - known) <= 0.015 * max(abs(known), 1e-12)


def supported(claim: Claim, seed: Seed) -> bool:
    if claim.kind == "date":
        same_year = [d for d in seed.dates if d[0] == claim.key[0]]
        precise = [d for d in same_year if d[1]] if claim.key[1] else []
        # A day and month are checked against the seed's full dates of that year, when it has any.
        return any(_date_matches(claim.key, d) for d in (precise or same_year))
    if claim.kind == "number":
        return any(_number_matches(claim.key[0], v) for v, _ in seed.numbers)
    words = [w for w in claim.key if len(w) > 2]
    return not words or sum(w in seed.words for w in words) * 2 >= len(words)


def _cues(prop: str) -> tuple[str, ...]:
    folded = fold(prop)
    cues = [w[:5] for w in WORD.findall(folded) if len(w) > 3 and w not in STOP]
    for key, words in DATE_CUES.items():
        if key in folded:
            cues += list(words)
    return tuple(dict.fromkeys(cues))


def _speaks_of(sentence: str, cues: tuple[str, ...]) -> bool:
    folded = fold(sentence)
    return any(re.search(rf"\b{re.escape(c)}", folded) for c in cues)


@dataclass
class ClaimReport:
    contradicted: list[str]
    unsupported: list[str]
    unsupported_share: float  # of the distinct claims, names weighted by name_weight
    fact_coverage: float | None


def _fact_parts(value: str) -> tuple[list[Claim], list[Claim], list[str]]:
    claims = _dates_and_numbers(value, 0, "en")
    dates = [c for c in claims if c.kind == "date"]
    numbers = [c for c in claims if c.kind == "number"]
    words = [w for w in WORD.findall(fold(re.sub(r"\d", " ", value))) if w not in STOP and len(w) > 1]
    return dates, numbers, words


def _value_names(value: str) -> list[str]:
    """What names a fact value gives: the last word of each run of capitalised words (the surname in "Igor
    Stravinsky", "Lanka" and "Thailand" in "Sri Lanka and Thailand"), folded; a lone capitalised first word
    ("Galle, assisted by…" aside) counts as a name only when another capitalised word follows it."""
    names, run = [], []
    words = re.findall(r"[^\W\d_][\w'’-]*", value)
    for word in words + [""]:
        if word and word[0].isupper() and fold(word) not in NOT_NAMES:
            run.append(word)
            continue
        if run and (len(run) > 1 or run[0] != words[0] or len(words) == 1):
            names += [part for part in re.split(r"[-'’]", fold(run[-1])) if len(part) > 1]
        run = []
    return names


def fact_stated(fact: Mapping[str, str], said: list[Claim], text_sentences: list[str], words: set[str]) -> bool:
    """Its value is stated: each full date (or its year beside the fact's cue), each number, half its words."""
    dates, numbers, value_words = _fact_parts(fact.get("value") or "")
    cues = _cues(fact.get("property") or "")
    for date in dates:
        exact = [c for c in said if c.kind == "date" and _date_matches(c.key, date.key) and (c.key[1] or not date.key[1])]
        same_year = [c for c in said if c.kind == "date" and c.key[0] == date.key[0]]
        if exact or (same_year and not date.key[1]):
            continue
        if date.key[2] and any(_speaks_of(text_sentences[c.sentence], cues) for c in same_year if _date_matches(c.key, date.key)):
            continue
        return False
    for number in numbers:
        if not any(c.kind == "number" and _number_matches(c.key[0], number.key[0]) for c in said):
            if not (number.key[0].is_integer() and number.key[0] < MIN_COUNTED_NUMBER and str(int(number.key[0])) in words):
                return False
    if any(name not in words for name in _value_names(fact.get("value") or "")):
        return False  # every name in the value must be given: a fact about "Igor Stravinsky" needs "Stravinsky"
    if dates or numbers or not value_words:
        if dates or numbers:
            return True  # its dates and numbers carry it (their words may be in another language)
        small = re.fullmatch(r"\s*(\d+)\s*", fact.get("value") or "")
        return bool(dates or numbers) or bool(small and re.search(rf"(?<![\d.]){small.group(1)}(?![\d.]\d)", " ".join(text_sentences)))
    return sum(w in words or w[:5] in {x[:5] for x in words} for w in value_words) * 2 >= len(value_words)


def _contradiction(claim: Claim, facts: list[Mapping[str, str]], text_sentences: list[str], said: list[Claim]) -> str | None:
    sentence = text_sentences[claim.sentence]
    window = sentence if claim.kind != "name" else " ".join(text_sentences[max(0, claim.sentence - 1) : claim.sentence + 1])
    in_window = [c for c in said if c.sentence == claim.sentence]
    for fact in facts:
        prop, value = fact.get("property") or "", fact.get("value") or ""
        dates, numbers, _ = _fact_parts(value)
        if claim.kind == "date" and dates:
            own = [d.key for d in dates]
            if any(_date_matches(c.key, d) for c in in_window if c.kind == "date" for d in own):
                continue
            other_day = any(d[0] == claim.key[0] and d[2] and claim.key[2] for d in own)
            other_year = any(d[1:] == claim.key[1:] and d[2] for d in own)  # the fact's day and month, another year
            if other_day or other_year or _speaks_of(sentence, _cues(prop)):
                return f"{prop}: article says {claim.text}, seed says {value}"
        elif claim.kind == "number" and dates and not numbers and not claim.key[1]:
            if _speaks_of(sentence, _cues(prop)) and not any(c.kind == "date" for c in in_window):
                return f"{prop}: article says {claim.text}, seed says {value}"
        elif claim.kind == "number" and numbers:
            if any(_number_matches(c.key[0], n.key[0]) for c in in_window if c.kind == "number" for n in numbers):
                continue
            same_unit = claim.key[1] and any(n.key[1] == claim.key[1] for n in numbers)
            if same_unit or (_speaks_of(sentence, _cues(prop)) and not claim.key[1]):
                return f"{prop}: article says {claim.text}, seed says {value}"
        elif claim.kind == "name" and re.search(r"\b[A-Z][^\W\d_]+\s+[A-Z]", value):
            value_words = {w for w in WORD.findall(fold(value)) if len(w) > 2}
            if any(w in value_words for c in said if c.kind == "name" for w in c.key):
                continue  # the fact's own name is given somewhere: another name near it is no swap
            near = rf"\b(?:{'|'.join(re.escape(c) for c in _cues(prop))})\w*\W+(?:\w+\W+){{0,3}}{re.escape(fold(claim.text))}"
            if _cues(prop) and re.search(near, fold(window)):
                return f"{prop}: article says {claim.text}, seed says {value}"
    return None


def _spoken_of(claim: Claim, unstated: list[Mapping[str, str]], text_sentences: list[str]) -> list[Mapping[str, str]]:
    """The unstated facts a number may stand in for: those whose cue its sentence speaks of. Without the
    cue an extra count is more often context (a count of works, a size) than a swapped value; dates and
    full names stand in for any unstated fact of their kind."""
    if claim.kind != "number":
        return unstated
    sentence = text_sentences[claim.sentence]
    return [f for f in unstated if _speaks_of(sentence, _cues(f.get("property") or ""))]


def _in_place_of(claim: Claim, unstated: list[Mapping[str, str]]) -> str | None:
    """A date, number or full name the seed does not hold, while a fact with a value of that kind goes
    unstated: the article gives that fact another value. Named only when one such fact is missing."""
    if claim.kind == "name" and len(claim.key) < 2:
        return None  # a lone word may be a character; a full name standing for a missing one is a swap
    candidates = []
    for fact in unstated:
        dates, numbers, _ = _fact_parts(fact.get("value") or "")
        # A number where a year belongs ("founded in 195" for 1957), or a year-like number for a count.
        year_like = (claim.kind == "number" and not claim.key[1] and dates) or (
            claim.kind == "date" and not claim.key[1] and numbers)
        if year_like or (claim.kind == "name" and _value_names(fact.get("value") or "")) or (claim.kind == "date" and dates) or (claim.kind == "number" and numbers and (
                not claim.key[1] or any(n.key[1] in ("", claim.key[1]) for n in numbers))):
            candidates.append(fact)
    if len(candidates) != 1:
        return None
    fact = candidates[0]
    return f"{fact.get('property')}: article says {claim.text}, seed says {fact.get('value')}"


def check(
    text: str, facts: Iterable[Mapping[str, str]], required: Iterable[Mapping[str, str]] | None = None,
    title: str = "", description: str = "", language: str = "en", character_mentions: int = 3,
    name_weight: float = 0.5,
) -> ClaimReport:
    """Contradicted facts, unsupported claims (distinct, as written) and the share of required facts stated.

    A one-word name the text repeats `character_mentions` times or more is a character or the subject,
    not a claim (stories name their people)."""
    facts = [dict(f) for f in facts]
    required = facts if required is None else [dict(f) for f in required]
    seed = seed_grounds(facts, title, description)
    text_sentences = [s.strip().strip("*#_ ") for s in sentences(text)]
    said = extract(text, language)
    words = set(WORD.findall(fold(re.sub(r"\d", " ", text))))
    unstated = [f for f in required if not fact_stated(f, said, text_sentences, words)]
    mentions = {c.key: len(re.findall(rf"\b{re.escape(c.text)}\b", text)) for c in said if c.kind == "name"}
    contradicted, unsupported, distinct, missing = [], [], {}, set()
    for claim in said:
        if claim.kind == "name" and len(claim.key) == 1 and mentions[claim.key] >= character_mentions:
            continue
        distinct[(claim.kind, claim.key)] = name_weight if claim.kind == "name" else 1.0
        if supported(claim, seed):
            continue
        missing.add((claim.kind, claim.key))
        found = _contradiction(claim, facts, text_sentences, said) or _in_place_of(
            claim, _spoken_of(claim, unstated, text_sentences))
        if found and found not in contradicted:
            contradicted.append(found)
        if claim.text not in unsupported:
            unsupported.append(claim.text)
    coverage = (sum(fact_stated(f, said, text_sentences, words) for f in required) / len(required)) if required else None
    total = sum(distinct.values())
    share = sum(distinct[k] for k in missing) / total if total else 0.0
    return ClaimReport(contradicted, unsupported, share, coverage)
