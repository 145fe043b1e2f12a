"""A synthetic Wikidata dump in the published format, with the real dump's entity sizes and class mix.

Real `latest-all.json` averages about 12 KB per entity, and most of it lies outside any topic domain:
scholarly articles (about 38% of entities, large: authors, citations, identifiers), astronomical objects,
genes and proteins, taxa, Wikimedia categories. Humans are about 11%; places, works and organisations a
few per cent each. Each class here has a few dozen pre-rendered variants of realistic size (labels in
many languages, statements with references, sitelinks); a line is a variant with its own id, and item
values point at other entities of the dump, so their labels must be found as in a real one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

LANGS = ["en", "fr", "de", "es", "it", "nl", "pl", "pt", "ru", "sv", "ja", "zh", "ar", "uk", "ca", "cs", "fi", "hu", "ko", "tr"]
_ID = b"Q@@@"


@dataclass(frozen=True)
class EntityClass:
    qid: str
    name: str
    share: float  # of entities
    statements: int  # besides instance-of: a rough size
    label_langs: int
    sitelinks: int
    heavy_share: float = 0.0  # entities many times the usual size (famous people, big cities)


# Mapped in the bench's domains: Q5 (people), Q515 / Q6256 (places), Q11424 / Q571 (works), Q4830453 (organisations).
CLASSES = [
    EntityClass("Q13442814", "scholarly article", 0.38, 30, 6, 0),
    EntityClass("Q5", "human", 0.11, 22, 12, 4, heavy_share=0.03),
    EntityClass("Q523", "star", 0.10, 14, 3, 0),
    EntityClass("Q318", "galaxy", 0.05, 12, 3, 0),
    EntityClass("Q7187", "gene", 0.04, 24, 4, 1),
    EntityClass("Q8054", "protein", 0.02, 24, 4, 1),
    EntityClass("Q16521", "taxon", 0.08, 18, 20, 3),
    EntityClass("Q4167836", "Wikimedia category", 0.08, 4, 20, 12),
    EntityClass("Q515", "city", 0.02, 30, 20, 15, heavy_share=0.05),
    EntityClass("Q532", "village", 0.03, 20, 8, 3),
    EntityClass("Q6256", "country", 0.001, 80, 20, 40, heavy_share=0.5),
    EntityClass("Q11424", "film", 0.02, 24, 10, 6),
    EntityClass("Q571", "book", 0.01, 20, 6, 2),
    EntityClass("Q4830453", "business", 0.02, 20, 6, 3),
    EntityClass("Q1190554", "occurrence", 0.039, 15, 6, 2),
]
DOMAIN_CLASSES = {"people": ["Q5"], "places": ["Q515", "Q6256"], "works": ["Q11424", "Q571"], "organisations": ["Q4830453"]}
_PROPERTIES = ["P21", "P27", "P106", "P19", "P20", "P17", "P131", "P50", "P2860", "P1433", "P59", "P703", "P171",
               "P31", "P279", "P361", "P495", "P136", "P57", "P161", "P159", "P452", "P36", "P150"]
_TIMES = ["P569", "P570", "P577", "P571", "P580"]
_IDENTIFIERS = ["P214", "P213", "P227", "P244", "P646", "P356", "P698", "P932", "P528", "P351", "P352", "P685"]


def _snak(pid: str, rng: random.Random, entities: int) -> dict:
    if pid in _TIMES:
        value = {"time": f"+{rng.randint(1400, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00Z",
                 "timezone": 0, "before": 0, "after": 0, "precision": 11, "calendarmodel": "http://www.wikidata.org/entity/Q1985727"}
        return {"snaktype": "value", "property": pid, "datavalue": {"value": value, "type": "time"}, "datatype": "time"}
    if pid in _IDENTIFIERS:
        return {"snaktype": "value", "property": pid, "datavalue": {"value": f"{rng.getrandbits(40):x}", "type": "string"},
                "datatype": "external-id"}
    target = rng.randint(1, entities)
    return {"snaktype": "value", "property": pid, "datatype": "wikibase-item",
            "datavalue": {"value": {"entity-type": "item", "numeric-id": target, "id": f"Q{target}"}, "type": "wikibase-entityid"}}


def _statement(pid: str, rng: random.Random, n: int, entities: int) -> dict:
    statement = {"mainsnak": {**_snak(pid, rng, entities), "hash": f"{rng.getrandbits(160):040x}"}, "type": "statement",
                 "id": f"Q@@@${n:08X}-{rng.getrandbits(16):04X}-4000-8000-{rng.getrandbits(48):012X}", "rank": "normal"}
    if rng.random() < 0.7:
        statement["references"] = [{"hash": f"{rng.getrandbits(160):040x}", "snaks": {
            "P248": [_snak("P248", rng, entities)], "P813": [_snak("P577", rng, entities)]}, "snaks-order": ["P248", "P813"]}]
    return statement


def _variant(cls: EntityClass, rng: random.Random, entities: int, heavy: bool) -> bytes:
    scale = rng.randint(6, 12) if heavy else 1
    name = f"{cls.name} {rng.getrandbits(24):06x}"
    langs = LANGS[: min(len(LANGS), cls.label_langs * (2 if heavy else 1))]
    claims: dict[str, list] = {"P31": [{"mainsnak": {"snaktype": "value", "property": "P31", "hash": f"{rng.getrandbits(160):040x}",
                                                     "datavalue": {"value": {"entity-type": "item", "numeric-id": int(cls.qid[1:]), "id": cls.qid},
                                                                   "type": "wikibase-entityid"}, "datatype": "wikibase-item"},
                                        "type": "statement", "id": "Q@@@$00000000-0000-4000-8000-000000000000", "rank": "normal"}]}
    pids = _PROPERTIES + _TIMES + _IDENTIFIERS
    for n in range(int(cls.statements * scale * rng.uniform(0.45, 1.05))):
        pid = "P2860" if cls.qid == "Q13442814" and n % 3 else rng.choice(pids)  # articles cite many works
        claims.setdefault(pid, []).append(_statement(pid, rng, n + 1, entities))
    entity = {
        "type": "item", "id": "Q@@@",
        "labels": {code: {"language": code, "value": name} for code in langs},
        "descriptions": {code: {"language": code, "value": f"{cls.name} ({code})"} for code in langs[:4]},
        "aliases": {"en": [{"language": "en", "value": f"{name} alias {k}"} for k in range(rng.randint(0, 3) * scale)]},
        "claims": claims,
        "sitelinks": {f"{code}wiki": {"site": f"{code}wiki", "title": name, "badges": []} for code in LANGS[: cls.sitelinks * scale]},
        "pageid": rng.randint(1, 10**8), "ns": 0, "title": "Q@@@", "lastrevid": rng.randint(10**9, 2 * 10**9),
        "modified": "2024-05-01T10:00:00Z",
    }
    return json.dumps(entity, ensure_ascii=False, separators=(",", ":")).encode()


def write_dump(path: Path, target_bytes: int, seed: int = 7, variants: int = 24) -> dict:
    """Writes a gzip dump of at least `target_bytes` of JSON; returns its counts by class."""
    rng = random.Random(seed)
    estimated = max(1000, target_bytes // 12_500)
    pools = {cls.qid: [_variant(cls, rng, estimated, rng.random() < cls.heavy_share) for _ in range(variants)] for cls in CLASSES}
    weights = [cls.share for cls in CLASSES]
    counts = {cls.qid: 0 for cls in CLASSES}
    written, n = 0, 0
    with igzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"[\n")
        batch: list[bytes] = []
        while written < target_bytes:
            for cls in rng.choices(CLASSES, weights, k=1000):
                n += 1
                line = rng.choice(pools[cls.qid]).replace(_ID, f"Q{n}".encode())
                batch.append(line)
                written += len(line) + 2
                counts[cls.qid] += 1
            out.write(b",\n".join(batch) + b",\n")
            batch = []
        out.write(b'{"type":"item","id":"Q0","labels":{},"descriptions":{},"aliases":{},"claims":{},"sitelinks":{}}\n]\n')
    return {"entities": n, "json_bytes": written, "by_class": counts}
