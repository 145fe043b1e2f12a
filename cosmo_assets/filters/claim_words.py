"""The words and patterns by which claims are read (filters/claims.py), in en, fr, es and de: month
names, date and number formats, magnitude words, the words that say a number is no year, the
capitalised words that name nothing, and the words by which a sentence speaks of a dated fact."""

from __future__ import annotations

import re
import unicodedata

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier janv enero januar", "february feb fevrier fevr febrero februar",
        "march mar mars marzo marz", "april apr avril abril", "may mai mayo",
        "june jun juin junio juni", "july jul juillet julio juli", "august aug aout agosto",
        "september sep sept septembre septiembre", "october oct octobre octubre oktober okt",
        "november nov novembre noviembre", "december dec decembre diciembre dezember dez",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th|er|º|°)?\.?"
_YEAR = r"(\d{3,4})"
DATE_PATTERNS = (
    (re.compile(r"\b(\d{3,4})-(\d{2})-(\d{2})\b"), ("y", "m", "d")),
    (re.compile(rf"\b{_DAY}\s+(?:of\s+|de\s+)?{_MONTH},?\s+(?:de\s+|del\s+)?{_YEAR}\b"), ("d", "mn", "y")),
    (re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b"), ("mn", "d", "y")),
    (re.compile(rf"\b{_MONTH},?\s+(?:de\s+|del\s+)?{_YEAR}\b"), ("mn", "y")),
    (re.compile(r"\b(\d{3,4})-(\d{2})\b"), ("y", "m")),
)
ERA = re.compile(r"\b(?:c\.\s*|ca\.\s*)?(\d{1,4})\s*(bce|bc|ad|ce|av\.\s*j\.-c\.|a\.\s*c\.|v\.\s*chr\.)(?=\W|$)")
AD = re.compile(r"\b(?:ad|anno)\s+(\d{1,4})\b")
BARE_YEAR = re.compile(r"(?<![\d.,])(1\d{3}|20\d{2})(?![\d.,]\d|s\b|'s\b)")
NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?!s\b|'s\b)")
MAGNITUDES = {
    "thousand": 1e3, "million": 1e6, "millions": 1e6, "billion": 1e9, "billions": 1e9, "mille": 1e3,
    "milliard": 1e9, "milliards": 1e9, "mil": 1e3, "millon": 1e6, "millones": 1e6, "tausend": 1e3,
    "mio": 1e6, "milliarde": 1e9, "milliarden": 1e9, "mrd": 1e9, "millionen": 1e6,
}
# Words that say a number is a count or a measure, not a year ("1,500 km", "1200 people").
NOT_YEAR_AFTER = re.compile(r"^\s*(?:%|percent|per|km|m\b|kg|g\b|mm|cm|people|persons|metres|meters|miles|feet|"
                             r"kilometres|kilometers|litres|liters|tonnes|tons|°|x\b)")
WORD = re.compile(r"[^\W\d_]+")
# Sentence ends; not after a German ordinal day ("am 29. Mai").
SENTENCE = re.compile(r"(?<!\b\d\.)(?<!\b\d\d\.)(?<=[.!?…])[\"'”’»)]*\s+|\n+")
STOP = frozenset(
    "a an the of and or in on at to for by with from as is was were be been its it this that these those "
    "about into than then over under le la les de des du et un une el los las y del der die das und von zu "
    "den dem mit".split()
)
# Capitalised words that name no claim: people in a story's family, titles, and the pronoun I.
NOT_NAMES = frozenset(
    "i mr mrs ms miss dr sir madam st grandma grandpa granny grandad mum mom dad mummy mommy daddy papa mama "
    "aunt auntie uncle teacher maman mamie papi abuela abuelo mama oma opa monsieur madame senor senora "
    "don dona herr frau".split()
) | frozenset(MONTHS) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi samedi "
    "dimanche lunes martes miercoles jueves viernes sabado domingo".split()
)
# Closed-class words (determiners, pronouns, prepositions, conjunctions, question words, sentence adverbs)
# that a sentence may open with: capitalised there for the sentence, never the first word of a name.
OPENING_WORDS = frozenset(
    # en
    "a an the this that these those there here it its he she we you they i his her their our my your "
    "in on at by for from with without within into onto upon over under above below across along around "
    "through throughout during before after since until till while when whenever where wherever whereas "
    "if unless although though because as so yet but and or nor then now today tonight tomorrow yesterday "
    "later soon once twice first second third next finally eventually suddenly meanwhile however moreover "
    "furthermore therefore thus hence also instead still even perhaps maybe sometimes often always never "
    "every each some many most all both few several another other such no not only one two three four five "
    "what why how who whom whose which whether let imagine like unlike despite besides beyond among between "
    "toward towards against about around near inside outside together again indeed certainly clearly "
    "interestingly importantly fortunately unfortunately luckily surprisingly naturally actually ".split()
) | frozenset(
    # fr
    "le la les un une des du de ce cet cette ces il elle ils elles on nous vous je son sa ses leur leurs "
    "mon ma mes dans sur sous avec sans pour par chez vers entre depuis pendant avant apres quand lorsque "
    "si mais et ou donc puis ensuite enfin alors aujourd hier demain ainsi cependant pourtant aussi "
    "chaque plusieurs certains tous toutes quel quelle quels quelles pourquoi comment qui que quoi ou "
    "soudain imaginez imagine voici voila grace malgre selon".split()
) | frozenset(
    # es
    "el la los las un una unos unas este esta estos estas ese esa esos esas aquel aquella ello el ella "
    "ellos ellas nosotros usted su sus mi mis en con sin por para desde durante antes despues cuando "
    "si pero y o entonces luego hoy ayer manana asi sin embargo tambien cada muchos muchas algunos "
    "algunas todos todas que como donde quien cual porque aunque mientras imagina imagine de repente "
    "gracias segun hace".split()
) | frozenset(
    # de
    "der die das den dem des ein eine einer eines einem einen dieser diese dieses diesen diesem jener "
    "er sie es wir ihr ich sein seine ihre unser mein in im an am auf aus bei mit nach seit von vor zu "
    "zum zur uber unter zwischen durch fur gegen ohne um als wenn wahrend nachdem bevor weil obwohl "
    "aber und oder dann danach heute gestern morgen jetzt spater schliesslich plotzlich jedoch auch "
    "jeder jede jedes viele einige alle was warum wie wer wo welche welcher stell dank trotz".split()
)
NAME_JOINERS = frozenset("of de du des la le von van der da del di y al bin ibn".split())
# The dated events a sentence can speak of, by the words of the fact's property (English property names).
DATE_CUES: dict[str, tuple[str, ...]] = {
    "born": ("born", "birth"), "birth": ("born", "birth"), "died": ("died", "death", "passed"),
    "death": ("died", "death", "passed"), "founded": ("founded", "established", "formed", "created"),
    "established": ("founded", "established"), "published": ("published", "publication"),
    "publication": ("published", "publication"), "released": ("released", "release"),
    "premiered": ("premiere", "premiered", "first performed", "first shown"),
    "start": ("began", "begun", "started", "start", "broke out"), "end": ("ended", "end", "concluded"),
    "opened": ("opened", "opening"), "built": ("built", "completed", "construction"),
    "completed": ("completed", "finished"), "discovered": ("discovered", "discovery", "found"),
    "proposed": ("proposed", "suggested"), "proved": ("proved", "proof"), "year": (),
}
MIN_COUNTED_NUMBER = 13  # smaller integers are counts of things ("three steps"), not claims


_SYMBOLS = str.maketrans({"–": " - ", "—": " - ", "×": "x", "½": ".5", "\u202f": " ", "\u00a0": " "})


def fold(text: str) -> str:
    """Lower case, accents off: how claims are compared (dashes kept apart, so 1934–1935 stays two years)."""
    text = (text or "").translate(_SYMBOLS)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
