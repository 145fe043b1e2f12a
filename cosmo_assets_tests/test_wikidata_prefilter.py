"""The Wikidata scan's compiled byte tests (_prefilter.c) against the same tests in Python: identical block
results on the test dumps and on lines written to trip them (escapes, bad UTF-8, other layouts)."""

from __future__ import annotations

import bz2
import gzip
import json

import pytest

from cosmo_assets.knowledge_base import wikidata_scan
from cosmo_assets.knowledge_base.wikidata_scan import BlockScanner, DomainPrefilter, ScanPlan
from cosmo_assets_tests.conftest import FIXTURES
from cosmo_assets_tests.fixtures.make_wikidata_dumps import clean_entities, dump, item

LANGUAGES = ("de", "en", "fr", "mul")
PROPERTIES = ("P31", "P106", "P17", "P2044", "P50", "P569", "P625")
PLANS = {
    "classes": ScanPlan((DomainPrefilter(None, frozenset({"Q5", "Q515", "Q6256", "Q3305213"})),), LANGUAGES, PROPERTIES, 16 << 20),
    "ids and classes": ScanPlan((DomainPrefilter(frozenset({"Q7186", "Q90000006"}), None),
                                 DomainPrefilter(None, frozenset({"Q5"}))), LANGUAGES, PROPERTIES, 16 << 20),
    "small rows": ScanPlan((DomainPrefilter(None, frozenset({"Q5", "Q13442814"})),), LANGUAGES, PROPERTIES, 900),
}


def _line(entity: dict, ascii_only: bool = False) -> bytes:
    return json.dumps(entity, ensure_ascii=ascii_only, separators=(",", ":")).encode()


def tricky_lines() -> list[bytes]:
    """Entities in the dump's layout that the compiled tests must hand to Python, or read exactly as it does."""
    person = item("Q90000005", "Ada", "mathematician", ["Q5"], {"P106": ["Q170790"]}, n=5)
    labels = {"en": {"language": "en", "value": 'quote " back \\ tab \t é'}, "fr": {"language": "fr", "value": "Adá"},
              "pt": {"language": "pt", "value": "skipped"}, "mul": {"language": "mul", "value": "Ada"}}
    lines = [
        _line({**person, "labels": labels}),  # escapes and UTF-8 in kept labels
        _line({**person, "labels": labels}, ascii_only=True),  # \\u escapes
        _line({**person, "labels": {"en": {"language": "en", "value": "smile 😀"}}}, ascii_only=True),  # a surrogate pair
        _line({**person, "labels": {}}),
        _line({**person, "labels": [], "claims": []}),  # how dumps write an entity with none
        _line({**person, "labels": {"zh-Hans": {"language": "zh-Hans", "value": "x"}, "en": {"language": "en", "value": "y"}}}),
        _line({**person, "labels": {"en": {"value": "order", "language": "en"}}}),  # other key order
        _line({"id": "Q90000006", "type": "item", **{k: v for k, v in person.items() if k not in ("id", "type")}}),  # id first
        _line({**person, "id": "P90001"}),  # a property keeps its labels
        _line({**person, "id": "L90001", "type": "lexeme"}),
        _line({"type": "item", "id": "Q90000007", "redirects": {"from": "Q90000007", "to": "Q7186"}}),
        _line(item("Q90000008", "novalue", "d", [], n=8) | {"claims": {"P31": [{"mainsnak": {"snaktype": "novalue", "property": "P31",
                                                                                            "hash": "ab"}, "rank": "normal"}]}}),
        _line(item("Q90000009", "qualified", "d", ["Q5"], n=9) | {"claims": {"P31": [{**item("Q1", "", "", ["Q5"])["claims"]["P31"][0],
                                                                                     "qualifiers": {"P580": []}, "rank": "preferred"}]}}),
        _line(item("Q90000010", "numeric only", "d", [], n=10) | {"claims": {"P31": [{"mainsnak": {
            "snaktype": "value", "property": "P31", "datavalue": {"value": {"entity-type": "item", "numeric-id": 5},
                                                                   "type": "wikibase-entityid"}}, "rank": "normal"}]}}),
        _line(item("Q90000011", "other class", "d", ["Q8502"], {"P50": ["Q5"]}, n=11)),  # Q5 named, but not by P31
        _line(item("Q90000012", "big", "d" * 2000, ["Q5"], n=12)),  # past the small plan's row limit
        json.dumps(item("Q90000013", "spaced", "d", ["Q5"], n=13)).encode(),  # spaces after colons
    ]
    lines += slimming_lines()
    duplicate = _line(person).replace(b'"labels":{', b'"labels":{"en":{"language":"en","value":"first"},', 1)
    bad_wanted = _line(person).replace(b'"value":"Ada"', b'"value":"A\xffa"', 1)
    bad_skipped = _line({**person, "labels": {**labels, "pt": {"language": "pt", "value": "BAD"}}}).replace(b"BAD", b"B\xc0D")
    overlong = _line(person).replace(b'"value":"Ada"', b'"value":"A\xe0\x80\xafa"', 1)
    control = _line(person).replace(b'"value":"Ada"', b'"value":"A\x01a"', 1)
    return [*lines, duplicate, bad_wanted, bad_skipped, overlong, control]


def _statement(datavalue: object, rank: str = "normal", snaktype: str = "value", **more) -> dict:
    return {"mainsnak": {"snaktype": snaktype, "property": "P106", **({} if datavalue is ... else {"datavalue": datavalue})},
            "type": "statement", "rank": rank, **more}


def slimming_lines() -> list[bytes]:
    """Kept entities whose values and texts test the slimming: ranks, falsy and odd datavalues, units, ids."""
    def entity(n: int, claims: dict, **fields) -> bytes:
        base = item(f"Q9100{n:04d}", f"slim {n}", "d", ["Q5"], n=n)
        return _line({**base, **fields, "claims": {**base["claims"], **claims}})

    item_value = {"value": {"entity-type": "item", "numeric-id": 170790, "id": "Q170790"}, "type": "wikibase-entityid"}
    quantity = {"value": {"amount": "+5", "unit": "http://www.wikidata.org/entity/Q11573"}, "type": "quantity"}
    return [
        entity(1, {"P106": [_statement(item_value, "deprecated"), _statement(item_value | {"value": {"numeric-id": 7}}, "preferred"),
                            _statement(item_value)]}),
        entity(2, {"P106": [_statement(None), _statement({}), _statement(""), _statement([]), _statement(False), _statement(True),
                            _statement("text"), _statement([1]), _statement(...), _statement(item_value, snaktype="somevalue")]}),
        entity(3, {"P106": [_statement(0)]}),  # a number: Python says whether it is falsy
        entity(4, {"P106": [{"mainsnak": None, "rank": "normal"}, _statement(item_value, qualifiers={"P580": [1.5e-3, -0.0]})]}),
        entity(5, {"P2044": [_statement(quantity), _statement(quantity | {"value": {"amount": "1", "unit": "1"}}),
                             _statement({"value": {"amount": "2", "unit": "urn:other"}, "type": "quantity"}),
                             _statement({"value": {"amount": "2"}, "type": "quantity"})]}),
        entity(6, {"P106": [_statement(item_value | {"value": {"id": "", "numeric-id": 42}}),
                            _statement(item_value | {"value": {"id": None, "numeric-id": 43}}),
                            _statement(item_value | {"value": {"id": "Q44"}}), _statement({"type": "wikibase-entityid", "value": "Q45"})]}),
        entity(7, {"P106": [_statement(item_value | {"value": {"id": 46}})]}),  # an id that is no string
        entity(8, {"P106": [_statement({"value": {"numeric-id": 123456789012345678901234}, "type": "wikibase-entityid"})]}),
        entity(9, {"P569": [_statement({"value": {"time": "+1815-12-10T00:00:00Z", "precision": 11, "after": 0}, "type": "time"})],
                   "P625": [_statement({"value": {"latitude": 51.5, "longitude": -0.12, "precision": 1e-05}, "type": "globecoordinate"})]},
               descriptions={"en": None, "de": {"language": "de", "value": "Zwei"}}, aliases={"en": [{"language": "en", "value": "A"}], "de": []}),
        entity(10, {"P106": []}, type="property"),
        entity(11, {}, redirects={"to": "Q1"}, sitelinks={"enwiki": {"site": "enwiki", "title": "x" * 1200}}),
        entity(12, {"P106": [_statement(item_value)]}).replace(b'"P106":', b'"P\\u0031\\u0030\\u0036":'),  # an escaped key
        entity(13, {"P106": [_statement(item_value)]}).replace(b'"P106":', b'"P106":[],"P106":'),  # a claim twice
        entity(14, {"P106": [_statement(item_value, rank=None)]}),
        entity(15, {"P106": [_statement(item_value)]}).replace(b',"rank":"normal"', b' , "rank" : "normal" '),  # spaces
        entity(16, {"P106": [_statement(item_value)]}).replace(b'"sitelinks":{}', b'"sitelinks":{"a":1e400}'),
    ]


def _dumps() -> dict[str, bytes]:
    return {"sample": (FIXTURES / "wikidata_sample.json").read_bytes(),
            "clean": gzip.decompress((FIXTURES / "wikidata_clean.json.gz").read_bytes()),
            "dirty": bz2.decompress((FIXTURES / "wikidata_dirty.json.bz2").read_bytes()),
            "tricky": dump([*clean_entities()[:3], *tricky_lines()]),
            "no final newline": dump(tricky_lines()).rstrip(b"\n]") + b"\n" + _line(item("Q90000014", "last", "d", ["Q5"]))}


def _summary(scanner: BlockScanner, data: bytes) -> tuple:
    """A block's result, entities' JSON parsed (the compiled slimming copies values as the dump writes them)."""
    result = scanner.scan(data, 1, label_order=7 << 32)
    entities = [{**row, "entity": json.loads(row["entity"])} for row in result.entities]
    return entities, result.bad, sorted(b"".join(result.labels).splitlines()), dict(result.skipped), result.lines, result.newlines


def test_the_compiled_tests_are_installed():
    """`make install` compiles them (setup.py); without them a full dump takes twice as long."""
    assert wikidata_scan._prefilter is not None


@pytest.mark.parametrize("plan", PLANS, ids=list(PLANS))
@pytest.mark.parametrize("name", list(_dumps()))
def test_the_compiled_tests_give_what_the_python_tests_give(name, plan):
    data = _dumps()[name]
    compiled, python = BlockScanner(PLANS[plan]), BlockScanner(PLANS[plan], compiled=False)
    assert compiled.compiled is not None and python.compiled is None
    expected = _summary(python, data)
    assert _summary(compiled, data) == expected
    entities, bad, labels, skipped, lines, _ = expected
    assert lines > 0 and labels  # the case says something
    if name == "clean" and plan == "classes":  # most lines are settled in C, as most of a full dump is
        counts, _, handed = wikidata_scan._prefilter.scan(data, 0, len(data), 1, *compiled.compiled, 16 << 20, True, 0)
        assert counts[0] >= 2 * len(handed) and counts[4] > 0
        kinds = {kind for kind, *_ in handed}
        assert 3 in kinds and 2 not in kinds  # every candidate of a clean dump slimmed in C
    if name == "tricky" and plan == "classes":
        assert {row["id"] for row in entities} >= {"Q90000005", "Q90000009"} and bad
        assert any(b"\\u00e9" in row for row in labels) and any("\\" in str(row["entity"]["labels"]) for row in entities)


def test_a_block_read_in_pieces_gives_the_whole_blocks_lines():
    """Workers scan a slot of the block file from an offset: lines before it are not read."""
    data = _dumps()["tricky"]
    cut = data.index(b"\n", len(data) // 2) + 1
    scanner = BlockScanner(PLANS["classes"])
    whole = scanner.scan(data, 1)
    first, second = scanner.scan(data, 1, cut), scanner.scan(data, 1, begin=cut)
    BlockScanner.shifted(second, first.newlines)
    assert first.entities + second.entities == whole.entities
    assert first.lines + second.lines == whole.lines and first.newlines + second.newlines == whole.newlines
