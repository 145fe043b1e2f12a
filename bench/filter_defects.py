"""Defective variants of a reference article, one function per kind of defect the filter must catch.

Each takes the article (a dict from cosmo_assets_tests/fixtures/filter_dev_set.json), the whole set (for
kinds that borrow from other articles) and a seeded random generator, and returns the defective text, or
None where the kind does not apply to that article (a one-section outline has no section to leave out).
The edits are generic (they know nothing of the filter's word lists), so the benchmark measures what a
draft with that defect looks like, not what the gates look for.
"""

from __future__ import annotations

import random
import re

from cosmo_assets.dates import fact_date

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

OPENERS = [
    "Sure! Here is a {kind} about {title}:",
    "Certainly! Below is a {kind} about \"{title}\".",
    "Of course. Here's the {kind} you asked for:",
    "Absolutely! I'd be happy to write a {kind} about {title}.",
    "Here is a {kind} on {title} written for the audience you described.",
    "Great idea! Here's my {kind}:",
    "<<{title}>>",
    "[{title}]",
]
CLOSERS = [
    "I hope this helps! Let me know if you would like any changes.",
    "Feel free to ask if you need more details or a different tone.",
    "Let me know if you want me to expand any section.",
    "I hope you enjoyed this {kind}! If you have any questions, just ask.",
    "Would you like me to adjust the length or add more examples?",
    "Note: this {kind} follows the outline you provided and uses every fact listed.",
]
TASK_TALK = [
    "This {kind} is written for {audience}, using the tone that was requested.",
    "The {kind} is written for {audience} and follows the outline in order.",
    "As instructed, this text uses every fact listed and avoids a title line.",
    "In this {kind}, I will explain {title} for {audience}.",
    "The following {kind} was written to match the requested style and length of about 300 words.",
]
AUDIENCES = {
    "young_children": "young children aged 5 to 8", "middle_school": "middle school students aged 11 to 14",
    "high_school": "high school students", "college": "college students", "researchers": "researchers",
    "general_public": "a general audience",
}
INVENTED = [
    "In {year}, {name} restored it at a cost of {number} dollars.",
    "A survey in {year} counted {number} visitors in a single month.",
    "{name} later wrote that it changed the lives of {number} families.",
    "By {year}, more than {number} copies of a book about it had been sold in {place}.",
    "It was moved to {place} in {year} on the orders of {name}.",
    "{name}, who studied it for {small} years, measured {number} separate features.",
    "The first museum devoted to it opened in {place} in {year}.",
    "A prize of {number} pounds was awarded to {name} for work on it in {year}.",
]
NAMES = ["Margaret Ellison", "Henri Duval", "Tomasz Wrona", "Akira Sato", "Elena Petrova", "Samuel Okafor",
         "Ingrid Holm", "Carlos Medina", "Fiona MacLeod", "Rashid Karim"]
PLACES = ["Lisbon", "Toronto", "Vienna", "Cape Town", "Osaka", "Buenos Aires", "Edinburgh", "Marseille"]
FOREIGN = {
    "fr": (
        "{title} est un sujet que beaucoup de personnes connaissent mal. Dans ce texte, nous allons voir "
        "pourquoi il est important et comment il a changé la façon dont les gens pensent. Au début, peu de "
        "gens s'y intéressaient, mais avec le temps, les chercheurs et le public ont compris sa valeur.\n\n"
        "Il faut d'abord regarder le contexte. Les idées ne naissent jamais seules : elles viennent d'une "
        "époque, d'un lieu et de personnes qui se posent des questions. C'est aussi le cas ici, et les "
        "détails de cette histoire montrent comment le travail patient de nombreuses personnes a permis "
        "de mieux comprendre le monde.\n\nAujourd'hui encore, on en parle dans les écoles et dans les "
        "musées, et chaque génération y trouve une nouvelle leçon."
    ),
    "es": (
        "{title} es un tema que mucha gente conoce solo de oídas. En este texto vamos a ver por qué es "
        "importante y cómo cambió la manera en que las personas piensan. Al principio, pocos se interesaban "
        "por él, pero con el tiempo los investigadores y el público entendieron su valor.\n\nPrimero hay que "
        "mirar el contexto. Las ideas nunca nacen solas: vienen de una época, de un lugar y de personas que "
        "se hacen preguntas. Así ocurrió también aquí, y los detalles de esta historia muestran cómo el "
        "trabajo paciente de muchas personas permitió comprender mejor el mundo.\n\nHoy todavía se habla "
        "de ello en las escuelas y en los museos, y cada generación encuentra en ello una nueva lección."
    ),
    "de": (
        "{title} ist ein Thema, das viele Menschen nur vom Hörensagen kennen. In diesem Text sehen wir, "
        "warum es wichtig ist und wie es die Art verändert hat, wie Menschen denken. Am Anfang haben sich "
        "nur wenige dafür interessiert, aber mit der Zeit haben Forscher und die Öffentlichkeit seinen Wert "
        "erkannt.\n\nZuerst muss man den Zusammenhang betrachten. Ideen entstehen nie allein: Sie kommen aus "
        "einer Zeit, von einem Ort und von Menschen, die Fragen stellen. So war es auch hier, und die "
        "Einzelheiten dieser Geschichte zeigen, wie die geduldige Arbeit vieler Menschen die Welt besser "
        "verständlich gemacht hat.\n\nNoch heute spricht man in Schulen und Museen darüber, und jede "
        "Generation findet darin eine neue Lehre."
    ),
}


def _kind(article: dict) -> str:
    return {"forum_qa": "forum thread", "how_to": "guide", "encyclopedia_entry": "encyclopedia entry",
            "blog_post": "blog post", "biography": "biography", "timeline": "timeline"}.get(
        article["content_type"], "story" if article["content_type"].startswith("story") else "textbook section")


def _fill(template: str, article: dict) -> str:
    return template.format(kind=_kind(article), title=article["title"], audience=AUDIENCES[article["audience"]])


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def truncated(article: dict, rng: random.Random, **_) -> str:
    """Cut mid-sentence somewhere in the second half, as a draft that hit max_tokens."""
    words = article["text"].split(" ")
    for _ in range(50):
        cut = rng.randint(len(words) // 2, len(words) - 3)
        head = " ".join(words[:cut]).rstrip()
        if head and head[-1].isalnum():
            return head
    return " ".join(words[: len(words) - 3]).rstrip(".!?,;:\"'”") + " and"


def chatter_opening(article: dict, rng: random.Random, **_) -> str:
    return _fill(rng.choice(OPENERS), article) + "\n\n" + article["text"]


def chatter_closing(article: dict, rng: random.Random, **_) -> str:
    return article["text"].rstrip() + "\n\n" + _fill(rng.choice(CLOSERS), article) + "\n"


def task_talk(article: dict, rng: random.Random, **_) -> str:
    """A sentence about the task or its audience, inside the first or the last paragraph."""
    parts = _paragraphs(article["text"])
    sentence = _fill(rng.choice(TASK_TALK), article)
    where = rng.choice([0, len(parts) - 1])
    parts[where] = (parts[where] + " " + sentence) if where else (sentence + " " + parts[where])
    return "\n\n".join(parts) + "\n"


def _instruction_lines(prompt: str, title: str) -> list[str]:
    lines = []
    for line in prompt.splitlines():
        stripped = line.strip()
        if not stripped or re.match(r"^(\d+\.|-)\s", stripped):
            continue
        lines.append(stripped)
    return lines


def prompt_echo(article: dict, rng: random.Random, **_) -> str:
    """One or two of the prompt's instruction lines copied into the draft, as small models do."""
    lines = _instruction_lines(article["prompt"], article["title"])
    picked = rng.sample(lines[1:] or lines, k=min(len(lines) - 1 or 1, rng.choice([1, 2])))
    parts = _paragraphs(article["text"])
    at = rng.choice([0, 1, len(parts)])
    parts.insert(at, " ".join(picked))
    return "\n\n".join(parts) + "\n"


def _replace_once(text: str, old: str, new: str, rng: random.Random) -> str | None:
    spots = [m.start() for m in re.finditer(re.escape(old), text)]
    if not spots:
        return None
    at = rng.choice(spots)
    return text[:at] + new + text[at + len(old):]


def wrong_date(article: dict, rng: random.Random, **_) -> str | None:
    """A dated fact's year (or day) changed where the article states it."""
    text = article["text"]
    dated = [(f, fact_date(f["property"], f["value"])) for f in article["facts"]]
    dated = [(f, d) for f, d in dated if d and d.year > 0 and str(d.year) in text]
    rng.shuffle(dated)
    for _fact, date in dated:
        if date.day and rng.random() < 0.4:
            month = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                     "October", "November", "December"][date.month - 1]
            stated = f"{date.day} {month} {date.year}"
            if stated in text:
                day = date.day + rng.choice([-3, -2, -1, 1, 2, 3])
                day = day if 1 <= day <= 28 else date.day + 5
                return _replace_once(text, stated, f"{day} {month} {date.year}", rng)
        year = date.year + rng.choice([-1, 1]) * rng.randint(2, 40)
        return _replace_once(text, str(date.year), str(year), rng)
    return None


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def wrong_number(article: dict, rng: random.Random, **_) -> str | None:
    """A number from a non-date fact changed where the article states it (a digit swapped, or x10)."""
    text = article["text"]
    candidates = []
    for fact in article["facts"]:
        if fact_date(fact["property"], fact["value"]):
            continue
        for number in _NUMBER.findall(fact["value"]):
            number = number.rstrip(",")
            plain = number.replace(",", "")
            standalone = re.search(rf"(?<![\w.,]){re.escape(number)}(?![\w]|[.,]\d)", text)
            if standalone and not (plain.isdigit() and int(plain) < 13):
                candidates.append(number)
    if not candidates:
        return None
    number = rng.choice(candidates)
    digits = number.replace(",", "")
    whole, _, decimals = digits.partition(".")
    if len(whole) >= 2 and whole[0] != whole[1] and whole[1] != "0" and rng.random() < 0.5:
        changed = whole[1] + whole[0] + whole[2:]
    else:
        changed = whole + "0" if rng.random() < 0.5 or len(whole) < 3 or int(whole[:-1]) < 13 else whole[:-1]
    new = changed + ("." + decimals if decimals else "")
    if "," in number and len(changed) > 3:
        new = f"{int(changed):,}" + ("." + decimals if decimals else "")
    spots = [m.start() for m in re.finditer(rf"(?<![\w.,]){re.escape(number)}(?![\w]|[.,]\d)", text)]
    at = rng.choice(spots)
    return text[:at] + new + text[at + len(number):] if new != number else None


_PROPER = re.compile(r"\b[A-Z][a-zà-ÿ'’]+(?:\s+(?:[A-Z][a-zà-ÿ'’]+|von|de|van|da|Le))*\s+[A-Z][a-zà-ÿ'’]+\b")


def wrong_name(article: dict, rng: random.Random, dev_set: list[dict], **_) -> str | None:
    """A person named in a fact replaced, everywhere the article names them, by a person from another article."""
    text = article["text"]
    own = [m.group(0) for f in article["facts"] for m in _PROPER.finditer(f["value"]) if m.group(0) in text]
    others = [m.group(0) for a in dev_set if a["id"] != article["id"] for f in a["facts"]
              for m in _PROPER.finditer(f["value"]) if f["property"] not in ("location", "birthplace")]
    if not own or not others:
        return None
    name = rng.choice(own)
    other = rng.choice(others)
    changed = text.replace(name, other)
    surname = name.split()[-1]
    return re.sub(rf"\b{re.escape(surname)}\b", other.split()[-1], changed)


def invented_claims(article: dict, rng: random.Random, **_) -> str:
    """One or two specific claims (dates, numbers, names, places) that no seed fact supports."""
    parts = _paragraphs(article["text"])
    for _ in range(rng.choice([1, 2])):
        claim = rng.choice(INVENTED).format(
            year=rng.randint(1600, 2020), name=rng.choice(NAMES), number=f"{rng.randint(2, 90) * 1000:,}",
            place=rng.choice(PLACES), small=rng.randint(3, 30),
        )
        at = rng.randrange(len(parts))
        sentences = _SENTENCE_END.split(parts[at])
        sentences.insert(rng.randint(1, len(sentences)), claim)
        parts[at] = " ".join(sentences)
    return "\n\n".join(parts) + "\n"


def off_topic(article: dict, rng: random.Random, dev_set: list[dict], **_) -> str:
    """Another article's text, drafted for this outline."""
    others = [a for a in dev_set if a["domain"] != article["domain"]]
    return rng.choice(others)["text"]


def repetition_loop(article: dict, rng: random.Random, **_) -> str:
    """The first part, then one or two sentences repeated until the length runs out, as a looping model does."""
    sentences = _SENTENCE_END.split(article["text"].strip())
    keep = max(2, len(sentences) * rng.randint(3, 6) // 10)
    loop = sentences[keep - rng.choice([1, 2]) : keep]
    body = sentences[:keep]
    while sum(len(s.split()) for s in body) < len(article["text"].split()):
        body += loop
    return " ".join(body)


def missing_sections(article: dict, rng: random.Random, **_) -> str | None:
    """Only the first section written: the paragraphs that plan to cover it, then the draft stops."""
    sections = len(article["sections"])
    parts = _paragraphs(article["text"])
    if sections < 2 or len(parts) < 2:
        return None
    share = max(1, -(-len(parts) // sections))
    return "\n\n".join(parts[: min(share, len(parts) - 1)]) + "\n"


def wrong_language(article: dict, rng: random.Random, **_) -> str:
    return FOREIGN[rng.choice(sorted(FOREIGN))].format(title=article["title"])


def fact_dump(article: dict, rng: random.Random, **_) -> str:
    """The seed facts as `property: value` lines, with or without a line of prose around them."""
    lines = [f"{f['property']}: {f['value']}" for f in article["facts"]]
    intro = rng.choice(["", f"{article['title']}\n", f"Here are the key facts about {article['title']}.\n"])
    if rng.random() < 0.5:
        lines = [f"- {line}" for line in lines]
    return intro + "\n".join(lines) + "\n"


def near_duplicate(article: dict, rng: random.Random, **_) -> str:
    """The article with a few words changed: a second draft that says the same thing."""
    words = article["text"].split(" ")
    for _ in range(rng.randint(2, 5)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["very", "also", "then", "still", "quite"])
    return " ".join(words)


KINDS = {
    "truncated": truncated,
    "chatter_opening": chatter_opening,
    "chatter_closing": chatter_closing,
    "task_talk": task_talk,
    "prompt_echo": prompt_echo,
    "wrong_date": wrong_date,
    "wrong_number": wrong_number,
    "wrong_name": wrong_name,
    "invented_claims": invented_claims,
    "off_topic": off_topic,
    "repetition_loop": repetition_loop,
    "missing_sections": missing_sections,
    "wrong_language": wrong_language,
    "fact_dump": fact_dump,
    "near_duplicate": near_duplicate,
}
# Kinds that a filter may repair instead of rejecting: a wrapper cut off cleanly is as good as rejected.
CLEANABLE = {"chatter_opening", "chatter_closing"}
