"""Facts as a prompt gives them: dates spoken in the partition's language ("23 June 1912", "23 juin 1912"),
long numbers grouped, and, for a fact that is only a date, the phrase that places it ("on 23 June 1912").
The seed's own values stay untouched in `required_facts`; the filter checks drafts against those."""

from __future__ import annotations

import re

from cosmo_assets.dates import ERA, FactDate
from cosmo_assets.outlining.structure import FactReader

MONTH_NAMES = {
    "en": "January February March April May June July August September October November December".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
}
# The preposition that places an event on a day, in a month, in a year; "around" for a circa year.
_PLACE = {
    "en": {"day": "on {date}", "month": "in {date}", "year": "in {date}", "about": "around {date}"},
    "fr": {"day": "le {date}", "month": "en {date}", "year": "en {date}", "about": "vers {date}"},
    "es": {"day": "el {date}", "month": "en {date}", "year": "en {date}", "about": "hacia {date}"},
    "de": {"day": "am {date}", "month": "im {date}", "year": "im Jahr {date}", "about": "um {date}"},
}
_GROUP = {"en": ",", "fr": "\u202f", "es": ".", "de": "."}
_ISO = re.compile(r"\b(\d{3,4})-(\d\d)(?:-(\d\d))?\b(?!-)")
_LONG_NUMBER = re.compile(r"(?<![\d.,\-])(\d{5,})(?![\d,]|\.\d)")
_CIRCA = re.compile(r"^(?:c\.|ca\.|circa)\s*", re.IGNORECASE)
# A value that is a date and nothing else: "1912-06-23", "1644", "44 BC", "15 August 1914", "c. 1503".
_DATE_ONLY = re.compile(
    r"^(?:c\.|ca\.|circa)?\s*(?:\d{3,4}(?:-\d\d(?:-\d\d)?)?|\d{1,4}\s*(?:BCE|BC|AD|CE|av\. J\.-C\.|a\. C\.|v\. Chr\.)|"
    r"AD\s*\d{1,4}|\d{1,2}\.?\s+(?:de\s+)?[^\W\d_]+\.?\s+(?:de\s+)?\d{3,4})$",
    re.IGNORECASE,
)


def spoken_date(date: FactDate, language: str) -> str:
    """The date as a reader of `language` writes it: 23 June 1912, 23 juin 1912, 23 de junio de 1912, 23. Juni 1912."""
    if date.year < 0 or not date.month or not 1 <= date.month <= 12:
        return date.label(language)
    month = MONTH_NAMES.get(language, MONTH_NAMES["en"])[date.month - 1]
    year = str(date.year)
    if language == "es":
        return f"{date.day} de {month} de {year}" if date.day else f"{month} de {year}"
    if not date.day:
        return f"{month} {year}"
    if language == "de":
        return f"{date.day}. {month} {year}"
    if language == "fr" and date.day == 1:
        return f"1er {month} {year}"
    return f"{date.day} {month} {year}"


def readable_value(value: str, language: str) -> str:
    """ISO dates inside a value spoken in the language; numbers of five digits or more grouped (2165423 -> 2,165,423)."""

    def iso(m: re.Match) -> str:
        month, day = int(m.group(2)), int(m.group(3) or 0)
        if not 1 <= month <= 12 or day > 31:
            return m.group(0)
        return spoken_date(FactDate(int(m.group(1)), month, day), language)

    def grouped(m: re.Match) -> str:
        return f"{int(m.group(1)):,}".replace(",", _GROUP.get(language, ","))

    return _LONG_NUMBER.sub(grouped, _ISO.sub(iso, value.strip()))


def readable_fact(fact: dict[str, str], language: str, reader: FactReader) -> dict[str, str]:
    """What a template needs to write one fact: its property (as the seed names it and in English), its value
    made readable, and `when` ("on 23 June 1912") when the value is a date and nothing more."""
    value = fact["value"]
    date = reader.date(fact)
    when = ""
    if date is not None and _DATE_ONLY.match(value.strip()):
        precision = "about" if _CIRCA.match(value.strip()) else "day" if date.day else "month" if date.month else "year"
        place = _PLACE.get(language, _PLACE["en"])[precision]
        spoken = spoken_date(date, language) if date.year > 0 else f"{-date.year} {ERA.get(language, ERA['en'])}"
        when = place.format(date=spoken)
    return {
        "property": fact["property"],
        "english": reader.english(fact["property"]),
        "value": readable_value(value, language),
        "when": when,
    }
