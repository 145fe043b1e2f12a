"""Is an outline section covered? By its heading, by its own words, or by what such a section says.

Section titles come from a small vocabulary (configs/outlines.yaml structures): "Early life", "Legacy",
"The lesson", "Examples"... A section is covered when its title appears, when half its content words do,
or when the text uses words that such a section is made of ("born", "childhood" for "Early life"). Cues
are 5-letter stems of folded words, for en, fr, es and de; a section title word not listed has no cues.
"""

from __future__ import annotations

import re

from cosmo_assets.filters.claim_words import fold

# Stem of a section-title word (folded, first 5 letters) -> stems that say that section's content.
CUES: dict[str, tuple[str, ...]] = {
    "early": ("born", "birth", "child", "young", "grew", "youth", "famil", "naiss", "nacio", "nacid", "gebor",
              "kindh", "jugen", "enfan", "infan", "jeune", "joven"),
    "legac": ("legac", "remem", "today", "honou", "honor", "named", "influ", "inspi", "herit", "souve", "aujou",
              "legad", "recue", "hoy", "verma", "erinn", "heute", "nomme", "llama", "benan"),
    "achie": ("known", "disco", "wrote", "paint", "built", "award", "prize", "invent", "found", "creat", "conna",
              "conoc", "bekan", "entde", "oeuvr", "obra", "werk"),
    "lesso": ("lesso", "learn", "moral", "reali", "under", "lecon", "appri", "lecci", "apren", "lehre", "gelern",
              "verst", "compr"),
    "choic": ("choic", "choos", "chose", "decid", "decis", "choix", "chois", "elecc", "elegi", "wahl", "entsc",
              "wahlt", "elige", "could", "pourr", "podri", "konnt"),
    "find": ("found", "disco", "learn", "reali", "told", "read", "notic", "decou", "appri", "descu", "apren",
             "entde", "erfah", "lerne"),
    "probl": ("probl", "puzzl", "quest", "why", "how", "wonde", "pourq", "porqu", "warum"),
    "worki": ("figur", "tried", "test", "clue", "check", "reaso", "look", "studi", "calcu", "think", "thoug",
              "expla", "maybe", "step", "cherc", "essay", "regar", "pense", "mirar", "pensa", "schau", "denke",
              "busca", "proba", "versu", "uberl", "rechn"),
    "solut": ("solut", "solve", "answe", "figur", "final", "resol", "soluc", "losun", "gelos", "antwo", "respu",
              "repon"),
    "begin": ("once", "lived", "day", "morni", "there", "etait", "habia", "war", "vivai", "vivia", "lebte"),
    "disco": ("disco", "found", "learn", "saw", "notic", "decou", "descu", "entde", "appri", "apren"),
    "endin": ("learn", "night", "home", "final", "smile", "lesso", "appri", "apren", "gelern", "fin", "ende"),
    "creat": ("creat", "made", "built", "carve", "compo", "wrote", "desig", "compl", "found", "start", "began",
              "premi", "work", "cree", "constr", "compu", "escri", "erbau", "gesch", "entwo"),
    "conte": ("theme", "about", "story", "subje", "show", "depic", "symbo", "repre", "mean", "theme", "tema",
              "thema", "sujet", "zeigt", "muest", "montr"),
    "theme": ("theme", "about", "story", "subje", "show", "depic", "symbo", "repre", "mean", "tema", "thema"),
    "defin": ("defin", "means", "refer", "calle", "is a", "signi", "bedeu", "desig"),
    "works": ("works", "becau", "when", "cause", "mecha", "proce", "parce", "porqu", "weil", "funci", "fonct",
              "funkt"),
    "examp": ("examp", "insta", "such", "inclu", "exemp", "ejemp", "beisp", "como"),
    "appli": ("appli", "used", "uses", "use", "utili", "usa", "verwe", "anwen", "emplo"),
    "backg": ("befor", "backg", "earli", "conte", "centu", "avant", "antes", "vor", "siecl", "siglo", "jahrh"),
    "happe": ("happe", "struc", "broke", "began", "took", "event", "then", "passe", "pasó", "pasa", "gesch"),
    "conse": ("conse", "after", "resul", "led", "impac", "effec", "chang", "apres", "despu", "nach", "folge",
              "efect", "resul", "chang", "cambi", "veran"),
    "locat": ("locat", "lies", "situa", "north", "south", "east", "west", "coast", "regio", "conti", "borde",
              "liegt", "nord", "sud", "norte", "este", "ouest", "oeste"),
    "setti": ("locat", "lies", "situa", "regio", "place", "where", "lieu", "lugar", "ort"),
    "featu": ("featu", "chara", "known", "consi", "mostl", "cover", "carac", "merkm", "besteh"),
    "histo": ("histo", "centu", "found", "began", "ruled", "later", "siecl", "siglo", "jahrh", "gesch"),
    "today": ("today", "now", "still", "moder", "prese", "aujou", "hoy", "actua", "heute", "noch"),
    "origi": ("origi", "found", "began", "start", "estab", "creat", "fonde", "fund", "gegru", "debut", "comie"),
    "purpo": ("purpo", "aim", "goal", "missi", "suppo", "fund", "objec", "ziel", "but", "propo", "fine"),
    "quest": ("?",),
    "answe": ("answe", "repli", "reply", "wrote", "repon", "respu", "antwo"),
    "follo": ("thank", "follo", "merci", "graci", "danke"),
    "matte": ("matte", "impor", "signi", "becau", "today", "impor", "wicht", "bedeu"),
    "overv": ("",),  # an overview is whatever opens the article
}
_STOP = frozenset("a an the of and or in on at to for by with from it its what they them their why how le la les "
                  "de du des et un une el los las y del der die das und von zu ce que qui".split())


def covered(section: str, text: str) -> bool:
    """The section's title, half its content words (5-letter stems), or one of its cues appears in `text`."""
    folded_text = fold(text)
    title = fold(section).strip()
    if not folded_text.strip():
        return False
    if title and title in folded_text:
        return True
    text_stems = {w[:5] for w in re.findall(r"[a-z]+", folded_text)}
    words = [w for w in re.findall(r"[a-z]+", title) if w not in _STOP]
    if words and sum(w[:5] in text_stems for w in words) * 2 >= len(words):
        return True
    for word in words:
        for cue in CUES.get(word[:5], ()):
            if cue in ("", "?") and (cue in folded_text):
                return True
            if cue and cue != "?" and (cue in text_stems if len(cue) >= 3 and " " not in cue else cue in folded_text):
                return True
    return False


def coverage(sections: list[str], text: str) -> float | None:
    return sum(covered(s, text) for s in sections) / len(sections) if sections else None
