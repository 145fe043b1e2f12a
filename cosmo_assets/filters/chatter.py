"""Assistant chatter and artefacts: what a chat model wraps around an article, and sentences about the task.

An opening ("Sure! Here is a story about…", a bracketed title line) or a closing ("I hope this helps!")
that stands apart from the article is cut off: `clean` returns the article without it and what was cut.
A sentence about the task, its audience or its instructions ("This story is written for…", "as
requested") left anywhere in the text cannot be cut cleanly, and `task_sentences` lists them so the
draft is rejected. Word lists for en, fr, es and de.
"""

from __future__ import annotations

import re
import unicodedata

_KINDS = {
    "en": r"(?:story|article|text|post|blog post|guide|entry|encyclopedia entry|section|thread|forum thread|timeline|"
          r"biography|essay|piece|version|draft|tale|summary|overview|lesson|response|answer)",
    "fr": r"(?:histoire|article|texte|billet|guide|entr[ée]e|section|fil|chronologie|biographie|r[ée]cit|conte|"
          r"version|r[ée]sum[ée]|r[ée]ponse)",
    "es": r"(?:cuento|historia|art[íi]culo|texto|entrada|gu[íi]a|secci[óo]n|hilo|cronolog[íi]a|biograf[íi]a|relato|"
          r"versi[óo]n|resumen|respuesta)",
    "de": r"(?:geschichte|artikel|text|beitrag|anleitung|eintrag|abschnitt|thread|zeitleiste|biografie|biographie|"
          r"erz[äa]hlung|version|zusammenfassung|antwort)",
}
# A first sentence that is the assistant talking, not the article ("Here is how you can…" included).
OPENERS = {
    "en": [
        r"(?:sure|certainly|absolutely|of course|okay|ok|alright|gladly|great|no problem|with pleasure|happy to help)"
        r"(?:\s+(?:thing|question|idea|choice|request))?\s*[!.:]",
        r"(?:sure|certainly|absolutely|of course|okay|ok)\b\s*[,!.]",
        r"(?:here(?:'s|’s| is| are)|below is|below you(?:'ll| will) find|the following is)\b.{0,120}?"
        r"(?:\b{kind}\b|\bhow (?:you|to)\b|\byou asked\b)",
        r"i(?:'d|’d| would| will|'ll|’ll| am|'m|’m)\s+(?:be\s+)?(?:happy|glad|delighted|pleased|love)\s+to\b",
        r"as an ai\b",
    ],
    "fr": [
        r"(?:bien s[ûu]r|certainement|absolument|d'accord|avec plaisir|volontiers|tr[èe]s bien)\s*[!.:,]",
        r"(?:voici|voil[àa]|ci-dessous)\b.{0,120}?(?:\b{kind}\b|\bcomment\b|\bdemand)",
        r"je (?:serais|suis) (?:ravi|heureux|heureuse|content)e? de\b",
        r"en tant qu'(?:ia|intelligence artificielle)\b",
    ],
    "es": [
        r"[¡]?(?:claro|por supuesto|desde luego|con gusto|de acuerdo|por supuesto que s[íi]|perfecto)\s*[!.:,]",
        r"(?:aqu[íi] (?:tienes|tiene|est[áa]|va|te dejo|le dejo)|a continuaci[óo]n)\b.{0,120}?(?:\b{kind}\b|\bc[óo]mo\b|\bpediste\b)",
        r"(?:me encantar[íi]a|estar[ée] encantad[oa]|con mucho gusto)\b",
        r"como (?:una )?(?:ia|inteligencia artificial)\b",
    ],
    "de": [
        r"(?:gerne|gern|nat[üu]rlich|sicher|klar|selbstverst[äa]ndlich|aber gerne|okay)\s*[!.:,]",
        r"(?:hier (?:ist|sind|kommt|folgt)|im folgenden)\b.{0,120}?(?:\b{kind}\b|\bwie\b|\bgew[üu]nscht)",
        r"ich (?:helfe|schreibe) (?:dir|ihnen) gerne\b",
        r"als (?:ki|k[üu]nstliche intelligenz)\b",
    ],
}
# A closing sentence that speaks to the person who asked.
CLOSERS = {
    "en": [
        r"i hope (?:this|that|you|it)\b", r"let me know\b", r"feel free to\b", r"(?:would|do) you (?:like|want) me to\b",
        r"if you (?:have|need) (?:any )?(?:more |other |further )?(?:questions|changes|help|details)\b",
        r"is there anything else\b", r"happy (?:reading|learning|writing)\b", r"enjoy (?:reading|the story)\b",
        r"(?:note|please note)\s*:", r"i can (?:also )?(?:adjust|expand|rewrite|change|shorten|make)\b",
    ],
    "fr": [
        r"j'esp[èe]re que (?:cela|ce|cette|ça|vous|tu)\b", r"n'h[ée]sitez pas\b", r"n'h[ée]site pas\b",
        r"dites-moi\b", r"dis-moi\b", r"si vous avez (?:d'autres |des )?questions\b", r"bonne lecture\b",
        r"(?:note|remarque)\s*:", r"voulez-vous que\b", r"veux-tu que\b",
    ],
    "es": [
        r"espero que (?:esto|este|esta|te|le|les|os)\b", r"no dudes en\b", r"no dude en\b", r"av[íi]same\b",
        r"dime si\b", r"si tienes (?:alguna|m[áa]s|otra)s? pregunta", r"buena lectura\b", r"(?:nota)\s*:",
        r"¿?(?:quieres|quiere|te gustar[íi]a) que\b",
    ],
    "de": [
        r"ich hoffe,? (?:das|dies|die|der|es|du|sie)\b", r"lass(?:en sie)? mich wissen\b", r"sag(?:en sie)? mir\b",
        r"wenn du (?:noch )?fragen\b", r"bei fragen\b", r"viel spa(?:ß|ss) beim lesen\b", r"(?:hinweis|anmerkung)\s*:",
        r"m[öo]chtest du,? dass\b", r"m[öo]chten sie,? dass\b",
    ],
}
# Sentences about the task, its audience or its instructions: never part of a good article.
TASK = {
    "en": [
        r"\b(?:this|the|my|our) {kind} (?:is|was|has been|will be) (?:\w+ )?(?:written|designed|intended|meant|aimed|"
        r"tailored|created|crafted|made) (?:for|to)\b",
        r"\bwritten (?:especially |specifically )?for (?:young children|children aged|middle school|high school|"
        r"college students|researchers|a general audience|the general public|readers aged)\b",
        r"\b(?:students|children|readers) aged \d+\s*(?:to|-|–)\s*\d+\b",
        r"\bas (?:instructed|requested|you asked)\b", r"\bthe outline (?:you |that was )?(?:provided|given)\b",
        r"\b(?:uses|use|using|includes) every fact (?:listed|given|provided)\b", r"\bword (?:count|limit)\b",
        r"\b(?:about|around|roughly|approximately) \d+ words\b", r"\bthe (?:requested|desired|required) (?:tone|style|length)\b",
        r"\b(?:the|your) (?:prompt|instructions)\b", r"\bin this {kind},? i (?:will|'ll|’ll|am going to)\b",
        r"\bdo not add a title\b",
    ],
    "fr": [
        r"\b(?:cette|cet|ce|mon|notre) {kind} (?:est|a été) (?:\w+ )?(?:écrite?|conçue?|destinée?|rédigée?|pensée?) (?:pour|à)\b",
        r"\bécrite? pour (?:les |des )?(?:jeunes enfants|enfants de|collégiens|lycéens|étudiants|chercheurs|grand public)\b",
        r"\b(?:élèves|enfants|lecteurs) de \d+ à \d+ ans\b", r"\bcomme (?:demandé|convenu|indiqué dans la consigne)\b",
        r"\ble plan (?:fourni|donné|proposé)\b", r"\bchaque fait (?:listé|donné|fourni)\b", r"\benviron \d+ mots\b",
        r"\b(?:la|ta|votre) consigne\b", r"\bdans (?:cette|cet|ce) {kind},? je vais\b",
    ],
    "es": [
        r"\b(?:este|esta|mi|nuestro|nuestra) {kind} (?:est[áa]|fue|ha sido) (?:\w+ )?(?:escrit[oa]|pensad[oa]|dirigid[oa]|"
        r"diseñad[oa]|cread[oa]) (?:para|a)\b",
        r"\bescrit[oa] para (?:niños pequeños|niños de|estudiantes|investigadores|el público general|lectores de)\b",
        r"\b(?:alumnos|niños|lectores) de \d+ a \d+ años\b", r"\bcomo (?:se )?(?:pidió|pediste|solicitaste|me pediste)\b",
        r"\bel esquema (?:proporcionado|dado)\b", r"\bcada dato (?:indicado|dado|listado)\b", r"\bunas \d+ palabras\b",
        r"\b(?:las|tus|sus) instrucciones\b", r"\ben (?:este|esta) {kind},? (?:voy a|vamos a explicar)\b",
    ],
    "de": [
        r"\b(?:diese|dieser|dieses|mein|meine) {kind} (?:ist|wurde) (?:\w+ )?(?:für|speziell für)\b.{0,60}\b(?:geschrieben|gedacht|verfasst)\b",
        r"\bfür (?:kleine kinder|kinder von|schüler|studierende|forscher|ein breites publikum) (?:\w+ )?(?:geschrieben|gedacht|verfasst)\b",
        r"\b(?:schüler|kinder|leser) (?:von|zwischen) \d+ (?:bis|und) \d+ jahren\b", r"\bwie (?:gewünscht|verlangt|gefordert)\b",
        r"\b(?:die|der) (?:vorgegebene|gegebene) gliederung\b", r"\bjede(?:s|n)? (?:genannte|aufgeführte)n? fakt", r"\betwa \d+ wörter\b",
        r"\b(?:die|deine|ihre) (?:anweisungen|aufgabenstellung)\b", r"\bin (?:diesem|dieser) {kind} werde ich\b",
    ],
}
# Assistant talk that no character in a story says either: looked for anywhere in the text.
INSIDE = {
    "en": [r"\bhere(?:'s| is| are) (?:a|an|the|your|my) (?:\w+ ){0,3}{kind} (?:about|on|for)\b", r"\bas an ai\b",
           r"\bi hope this helps\b", r"\blet me know if you\b", r"\bwould you like me to\b", r"\bis there anything else\b"],
    "fr": [r"\bvoici (?:un|une|le|la|ton|votre) (?:\w+ ){0,3}{kind} (?:sur|à propos)\b", r"\ben tant qu'ia\b",
           r"\bj'espère que cela (?:vous|t')aide\b", r"\bn'hésitez pas à me\b"],
    "es": [r"\baquí (?:tienes|tiene|está) (?:un|una|el|la|tu) (?:\w+ ){0,3}{kind} (?:sobre|acerca)\b",
           r"\bcomo (?:una )?ia\b", r"\bespero que esto te ayude\b", r"\bno dudes en (?:pedirme|preguntarme)\b"],
    "de": [r"\bhier (?:ist|sind) (?:ein|eine|der|die|das|dein|ihr) (?:\w+ ){0,3}{kind} (?:über|zu)\b",
           r"\bals ki\b", r"\bich hoffe,? das hilft\b", r"\blass mich wissen, ob\b"],
}
_TITLE_LINE = re.compile(r"^\s*(?:<<.+>>|\[[^\]]+\]|\{[^}]+\}|(?:title|titre|t[íi]tulo|titel)\s*:.*)\s*$", re.I)
_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+")


def _compile(table: dict[str, list[str]]) -> dict[str, re.Pattern]:
    return {
        lang: re.compile("|".join(f"(?:{p.replace('{kind}', _KINDS[lang])})" for p in patterns), re.I)
        for lang, patterns in table.items()
    }


_OPENERS, _CLOSERS = _compile(OPENERS), _compile(CLOSERS)
_TASK = _compile({lang: TASK[lang] + INSIDE[lang] for lang in TASK})


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip("*_#> ").strip()


def _is_title_line(line: str, title: str) -> bool:
    """A title the model put above the article: `<<…>>`, `[…]`, "Title: …", the topic's title alone, or a
    markdown heading or bold line that names the topic and ends in no sentence ("**The Rite of Spring: A
    Story**", "### How to Plan a Visit to the Sahara"); a heading that does not name it may be the text's own."""
    if _TITLE_LINE.match(line):
        return True
    bare = re.sub(r"[#*_\"“”«»„]", "", line).strip().rstrip(":").strip().lower()
    if not title:
        return False
    marked = re.match(r"^\s*(?:#{1,6}\s|\*\*|__)", line) and not re.search(r"[.!?…]\W*$", line.strip())
    return bare == title.strip().lower() or bool(marked and len(bare.split()) <= 14 and title.strip().lower() in bare)


def _opening(sentence: str, language: str) -> bool:
    pattern = _OPENERS.get(language)
    return bool(pattern and pattern.match(_plain(sentence)))


def _closing(sentence: str, language: str) -> bool:
    pattern = _CLOSERS.get(language)
    return bool(pattern and pattern.match(_plain(sentence)))


def clean(text: str, language: str, title: str = "") -> tuple[str, list[str]]:
    """The article without the wrapper around it, and the pieces cut (empty when nothing was)."""
    cut: list[str] = []
    body = (text or "").strip()
    for _ in range(4):  # a title line, then "Sure!", then "Here is the story:" ...
        first_line, _, rest = body.partition("\n")
        if first_line.strip() and _is_title_line(first_line, title):
            cut.append(first_line.strip())
            body = rest.strip()
            continue
        sentences = _SENTENCE.split(first_line, maxsplit=1)
        head = sentences[0]
        lead, colon, after = head.partition(":")
        if colon and after.strip() and _opening(lead + colon, language):
            cut.append((lead + colon).strip())  # "Sure, here is the rest: centuries later…" keeps what follows
            body = (after + (" " + sentences[1] if len(sentences) > 1 else "") + "\n" + rest).strip()
            continue
        if _opening(head, language) and len(head.split()) <= 40:
            cut.append(head.strip())
            body = ((sentences[1] if len(sentences) > 1 else "") + "\n" + rest).strip()
            continue
        break
    opened = len(cut)
    for _ in range(6):  # closing sentences, last first
        paragraphs = body.rsplit("\n", 1)
        last = paragraphs[-1]
        pieces = _SENTENCE.split(last)
        if len(pieces) and _closing(pieces[-1], language) and len(body.split()) > len(pieces[-1].split()):
            cut.insert(opened, pieces[-1].strip())
            kept = " ".join(pieces[:-1]).strip()
            body = ((paragraphs[0] + "\n" if len(paragraphs) > 1 else "") + kept).strip()
            continue
        break
    return (body + "\n" if cut and body else (text if not cut else body)), cut


def task_sentences(text: str, language: str) -> list[str]:
    """Sentences about the task, audience or instructions, and assistant talk left inside the article."""
    found = []
    pattern = _TASK.get(language)
    for line in (text or "").splitlines():
        for sentence in _SENTENCE.split(line):
            plain = _plain(sentence)
            if not plain:
                continue
            if pattern and pattern.search(plain):
                found.append(plain)
    return found
