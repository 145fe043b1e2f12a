"""One block of a Wikidata dump's lines scanned into extract rows: cheap byte tests first, a JSON parse only for
entities some domain may want. Runs in worker processes, so it knows only plain data (a ScanPlan).

Per line, in this order:
- the id is read from the first bytes (dumps write "type" and "id" first); lexemes and properties are
  counted and skipped, though a property's labels are kept like any item's (a value may name one);
- the labels of the plan's languages are kept for every item, so item values can be named from this one
  pass (the labels a domain needs are joined at the end): in the dump's layout their entries are cut
  out of the labels object as they stand, otherwise the labels object alone is parsed;
- the line's instance-of classes are read from its P31 claim where it stands (or, in another layout,
  searched around every P31 snak); the id or classes must be ones a domain wants before the line is
  parsed: most of a full dump (scholarly articles, stars, genes) stops here, unparsed;
- such a line is decoded into only what seeds read (msgspec checks the whole line as JSON but builds the
  texts of the plan's languages and the statements of its properties, nothing else; a line it refuses
  or does not expect is parsed by orjson, which says what is wrong), and kept when a domain's id and class
  filters want it. Keyword filters are applied per partition.

The same tests and slimming are compiled (_prefilter.c) for lines in the dump's own layout; what the compiled
part cannot settle exactly as this module would comes back here. Without the compiled part (installed without
a C compiler) this module does it all.
"""

from __future__ import annotations

import gc
import json
import mmap
import re
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import orjson

from cosmo_assets.knowledge_base.reasons import (
    BAD_ENCODING,
    INVALID_ROW,
    MALFORMED_JSON,
    OVERSIZED_FIELD,
    clip_raw,
)

try:  # the byte tests compiled (_prefilter.c, built when the project is installed): half the scan's time
    from cosmo_assets.knowledge_base import _prefilter
except ImportError:  # installed without a C compiler: the same tests in Python
    _prefilter = None

_ENTITY_ID = re.compile(rb'"id"\s*:\s*"([QPL][0-9]+)"')
_ID_KEY = b'"id":"'
_ID_VALUE = re.compile(rb"[QPL][0-9]+")
_ID_WINDOW = 300
# The dump's own layout, found with bytes.find and checked with a match at one place; anything written
# another way takes the general path (a regex over the line, or a parse).
_LABELS_KEY = b'"labels":{'
_LABELS_END = b'},"descriptions":'
_LABEL_ENTRY = re.compile(rb'\}|"([a-z0-9-]+)":\{"language":"\1","value":"')
_P31_CLAIM = b'"P31":[{"mainsnak":'
_NEXT_CLAIM = b'":[{"mainsnak":'  # "mainsnak" starts statements only, so this is the next claim's key
_STATEMENT = b'{"mainsnak":'
_P31_STATEMENT = re.compile(
    rb'\{"mainsnak":\{"snaktype":"value","property":"P31",(?:"hash":"[0-9a-f]*",)?(?:"datatype":"wikibase-item",)?'
    rb'"datavalue":\{"value":\{"entity-type":"item","numeric-id":([0-9]+)(?:,"id":"Q\1")?\}')
_P31_NO_VALUE = re.compile(rb'\{"mainsnak":\{"snaktype":"(?:novalue|somevalue)","property":"P31"[,}]')
_REDIRECT_BYTES = 1000
# Without its closing quote: a needle ending in a rare byte is found many times faster in JSON.
_P31_SNAK = b'"property":"P31'
_SNAK_WINDOW = 400  # a snak of an item value is about 250 bytes
_ITEM_URI = "http://www.wikidata.org/entity/"
_REF_KINDS = frozenset(("wikibase-entityid", "quantity"))  # the datavalues that name an item (_value_ref)
CLASS_PROPERTY = "P31"

# What a line that is not kept counts as (the scan's `skipped` figures).
SKIPPED_LEXEME, SKIPPED_PROPERTY, SKIPPED_REDIRECT, OUTSIDE_DOMAINS = "lexemes", "properties", "redirects", "outside_domains"


class _Snak(msgspec.Struct):
    snaktype: Any = None
    datavalue: Any = None


class _Statement(msgspec.Struct):
    mainsnak: _Snak | None = None
    rank: Any = None


def _keyed(name: str, prefix: str, keys: tuple[str, ...], kind: Any, default: Any) -> type:
    """A struct of the object entries under `keys` (every other entry is skipped unbuilt), in their order."""
    names = [f"{prefix}{i}" for i in range(len(keys))]  # a language code like zh-hans is no field name
    return msgspec.defstruct(name, [(n, kind, default) for n in names], rename=dict(zip(names, keys)))


def _entity_decoder(languages: tuple[str, ...], properties: tuple[str, ...]) -> msgspec.json.Decoder:
    """A decoder of the entities seeds read: it checks the whole line as JSON but builds only the texts in
    `languages` and the statements of `properties` (a line's bulk is other claims, other languages and
    sitelinks, which it skips unbuilt). Absent texts are UNSET; absent claims, None."""
    claims = _keyed("Claims", "p", properties, list[_Statement], None)  # None, not a new empty list per absent claim

    def texts(name: str) -> type:
        return _keyed(name, "t", languages, Any, msgspec.UNSET)

    entity = msgspec.defstruct("Entity", [
        ("id", str), ("type", Any, None),
        ("redirects", msgspec.Raw, msgspec.Raw()),  # empty: no such key
        *((key, kind, msgspec.field(default_factory=kind))
          for key, kind in (("labels", texts("Labels")), ("descriptions", texts("Descriptions")),
                            ("aliases", texts("Aliases")), ("claims", claims)))])
    return msgspec.json.Decoder(entity)


@contextmanager
def without_gc() -> Iterator[None]:
    """No garbage collection within: for loops that make many objects and no cycles (whole blocks of a dump)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@dataclass(frozen=True)
class DomainPrefilter:
    """What one domain's filters say about a line before it is parsed; None: that filter is not set."""

    ids: frozenset[str] | None
    classes: frozenset[str] | None


@dataclass(frozen=True)
class ScanPlan:
    domains: tuple[DomainPrefilter, ...]
    languages: tuple[str, ...]  # every enabled language and label fallback
    properties: tuple[str, ...]  # P31 and the properties seeds turn into facts
    row_bytes: int

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(c for d in self.domains for c in d.classes or ())


@dataclass
class BlockResult:
    """What one block of lines gave: kept entities, labels of every item, bad rows, and the counts."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    # The labels of every item in the plan's languages, as rows "id<TAB>order<TAB>JSON\n" (order: the line's
    # place in the dump, for the first of an id seen twice): written to a spill file as they come, not kept
    # as Python objects, a few per item of the dump.
    labels: list[bytes] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    lines: int = 0  # entities read
    newlines: int = 0  # lines passed, blank ones and the array's brackets too


class _Problem(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class BlockScanner:
    """Scans blocks of whole lines under one plan; the class tokens are built once per process."""

    def __init__(self, plan: ScanPlan, compiled: bool = True):
        self.plan = plan
        self.languages = set(plan.languages)
        # One pattern for every domain's classes, as an id ("Q5") or, in old dumps, a numeric id (5).
        classes = sorted(plan.classes)
        self.classes = re.compile(
            rb'"(' + b"|".join(c.encode() for c in classes) + rb')"|"numeric-id"\s*:\s*('
            + b"|".join(c[1:].encode() for c in classes) + rb")(?![0-9])") if classes else None
        self.names = {**{c.encode(): c for c in classes}, **{c[1:].encode(): c for c in classes}}
        self.numbers = {c[1:].encode(): c for c in classes}
        # Every domain filtered on classes alone: a line is wanted when it names any of them (the usual case).
        self.by_class = all(d.ids is None and d.classes for d in plan.domains)
        self.label_keys = [b'"%s":' % code.encode() for code in plan.languages]
        # The labels object decoded into the raw bytes of the plan's entries only (an entity has labels in up to
        # hundreds of languages: a dict of them all cost 7% more scan time).
        self.label_entries = msgspec.json.Decoder(_keyed("LabelEntries", "t", plan.languages, msgspec.Raw, msgspec.Raw()))
        self.entity = _entity_decoder(plan.languages, plan.properties)
        # What the compiled tests need: the languages' codes, the classes' numeric ids and the properties, as bytes.
        self.compiled = ((tuple(code.encode() for code in plan.languages), tuple(c[1:].encode() for c in classes),
                          tuple(pid.encode() for pid in plan.properties))
                         if _prefilter is not None and compiled and len(plan.languages) <= 64 and len(classes) <= 1024
                         and len(plan.properties) <= 1024 else None)

    def scan(self, block: bytes | mmap.mmap, first_line: int, size: int | None = None, begin: int = 0,
             label_order: int | None = None) -> BlockResult:
        """Every line of block[begin:size] (whole lines; the first is line `first_line` of the dump). Lines are
        read in place, as offsets into the block (bytes, or a mapping, which has the same finds): only those
        parsed are copied out. Label rows are ordered from `label_order` for the first line (default: its line)."""
        size = len(block) if size is None else size
        self.label_shift = (first_line if label_order is None else label_order) - first_line
        with without_gc():  # a parse makes thousands of objects, none in a cycle: collections would cost a sixth of the scan
            if self.compiled is not None:
                return self._scan_compiled(block, first_line, size, begin)
            result = BlockResult()
            start, line_no = begin, first_line
            while start < size:
                end = block.find(b"\n", start, size)
                end = size if end < 0 else end
                self._raw_line(block, start, end, line_no, result)
                start, line_no = end + 1, line_no + 1
        result.newlines = line_no - first_line
        return result

    def _scan_compiled(self, block: bytes | mmap.mmap, first_line: int, size: int, begin: int) -> BlockResult:
        """The compiled tests settle the lines in the dump's layout that no domain wants, cut out every item's
        labels and slim the candidates; the lines they hand back (other layouts, anything they cannot read as
        Python would) go through the same tests in Python."""
        languages, classes, properties = self.compiled
        counts, labels, handed = _prefilter.scan(block, begin, size, first_line, languages, classes, properties,
                                                 self.plan.row_bytes, self.by_class, first_line + self.label_shift)
        result = BlockResult(labels=[labels], lines=counts[0], newlines=counts[1])
        for reason, count in zip((SKIPPED_LEXEME, SKIPPED_PROPERTY, OUTSIDE_DOMAINS), counts[2:]):
            if count:
                result.skipped[reason] += count
        for kind, a, b, line_no, qid in handed:
            if kind == 3:  # slimmed: qid is (id, classes, refs, entity JSON)
                self._keep({"line": line_no, "id": qid[0], "classes": qid[1], "refs": sorted(set(qid[2])), "entity": qid[3],
                            "raw": clip_raw(block[a:b])}, result)
            elif kind == 0:
                self._raw_line(block, a, b, line_no, result)
            else:
                self._after_labels(block, a, b, qid, line_no, result, named_class=kind == 2)
        return result

    def _raw_line(self, block: bytes | mmap.mmap, start: int, end: int, line_no: int, result: BlockResult) -> None:
        """The line block[start:end], newline excluded: an entity, or the array's brackets, or blank."""
        if block[start] == 0x7B and block[end - 1] == 0x2C and block[end - 2] == 0x7D:  # the dump's `{...},`
            a, b = start, end - 1
        else:
            a, b = _entity_span(block, start, end)
        if a < b:
            result.lines += 1
            self._line(block, a, b, line_no, result)

    @staticmethod
    def shifted(result: BlockResult, lines: int) -> BlockResult:
        """`result` of a block scanned from line 1, as lines of the dump when `lines` lines came before it."""
        if lines:
            for row in (*result.entities, *result.bad):
                row["line"] += lines
        return result

    def _line(self, block: bytes, a: int, b: int, line_no: int, result: BlockResult) -> None:
        qid = _entity_id(block, a, b)
        if qid and qid[0] == "L":
            result.skipped[SKIPPED_LEXEME] += 1
            return
        if qid and b - a <= self.plan.row_bytes:
            labels = self._labels(block, a, b)
            if labels:
                result.labels.append(b"%s\t%d\t%s\n" % (qid.encode(), line_no + self.label_shift, labels.encode()))
        self._after_labels(block, a, b, qid, line_no, result)

    def _after_labels(self, block: bytes, a: int, b: int, qid: str | None, line_no: int, result: BlockResult,
                      named_class: bool = False) -> None:
        """The tests after the labels. `named_class`: the compiled tests read a domain's class in the line's P31
        claim, so it is wanted when every domain filters on classes alone (its classes are read only if it is bad)."""
        if qid and qid[0] == "P":
            result.skipped[SKIPPED_PROPERTY] += 1
            return
        if b - a < _REDIRECT_BYTES and block.find(b'"redirects"', a, b) >= 0:  # a short line: no labels, no claims
            try:
                if "redirects" in orjson.loads(block[a:b]):
                    result.skipped[SKIPPED_REDIRECT] += 1
                    return
            except (orjson.JSONDecodeError, TypeError):
                pass  # not valid JSON: parsed below if a domain may want it, and quarantined
        found = None if named_class and self.by_class else self._classes_named(block, a, b)
        if found is not None and not (bool(found) if self.by_class else
                                      any((d.ids is None or qid is None or qid in d.ids) and (d.classes is None or d.classes & found)
                                          for d in self.plan.domains)):
            result.skipped[OUTSIDE_DOMAINS] += 1  # never parsed: the bulk of a full dump
            return
        line = block[a:b]
        if len(line) <= self.plan.row_bytes:
            kept = self._slim_decoded(line, line_no, result)
            if kept is not None:
                if kept:
                    self._keep(kept, result)
                return
        try:
            obj = self._parse(line)
        except _Problem as problem:
            result.bad.append({"line": line_no, "reason": problem.reason, "detail": problem.detail, "source_id": qid,
                               "raw": clip_raw(line), "classes": sorted(self._classes_named(block, a, b) if found is None else found)})
            return
        if obj.get("type") != "item":
            result.skipped[SKIPPED_LEXEME if obj.get("type") == "lexeme" else SKIPPED_PROPERTY] += 1
            return
        if "redirects" in obj:
            result.skipped[SKIPPED_REDIRECT] += 1
            return
        self._keep(self._slim(obj, line, line_no), result)

    def _keep(self, kept: dict[str, Any], result: BlockResult) -> None:
        classes = set(kept["classes"])
        if any((d.ids is None or kept["id"] in d.ids) and (d.classes is None or d.classes & classes)
               for d in self.plan.domains):
            result.entities.append(kept)
        else:
            result.skipped[OUTSIDE_DOMAINS] += 1

    def _slim_decoded(self, line: bytes, line_no: int, result: BlockResult) -> dict[str, Any] | None:
        """The line slimmed as `_slim` does, decoded without building what seeds do not read (a third of the
        scan's time when every entity was parsed whole); {} when it is a lexeme, a property or a redirect
        (counted). None when the line is not an entity of the usual shape, or not valid UTF-8 (the decoder
        does not check the strings it skips): the general path parses it and says what is wrong."""
        try:
            entity = self.entity.decode(line)
            if not line.isascii():
                line.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        if entity.type != "item":
            result.skipped[SKIPPED_LEXEME if entity.type == "lexeme" else SKIPPED_PROPERTY] += 1
            return {}
        if entity.redirects:
            result.skipped[SKIPPED_REDIRECT] += 1
            return {}
        values = {pid: chosen for pid, statements in zip(self.plan.properties, msgspec.structs.astuple(entity.claims))
                  if statements and (chosen := _chosen_decoded(statements))}  # most of the plan's properties are absent
        texts = {key: {code: text for code, text in zip(self.plan.languages, msgspec.structs.astuple(entries))
                       if text is not msgspec.UNSET}
                 for key, entries in (("labels", entity.labels), ("descriptions", entity.descriptions),
                                      ("aliases", entity.aliases))}
        try:
            return _row(entity.id, texts, values, line, line_no)
        except orjson.JSONEncodeError:  # an integer past 64 bits: orjson's parse reads it as a float
            return None

    def _classes_named(self, block: bytes, a: int, b: int) -> frozenset[str]:
        """The domains' classes among the line's instance-of values, or a superset of them.

        In dumps the P31 claim is written `"P31":[{"mainsnak":{"snaktype":"value","property":"P31",...`: its
        statements are read where they stand, up to the next claim. Otherwise every P31 snak is searched around."""
        if self.classes is None:
            return frozenset()
        claim = block.find(_P31_CLAIM, a, b)
        if claim < 0:
            return self._classes_near_snaks(block, a, b)
        end = block.find(_NEXT_CLAIM, claim + len(_P31_CLAIM), b)
        end = b if end < 0 else end
        found: set[str] = set()
        at = claim + len(_P31_CLAIM) - len(_STATEMENT)
        while at >= 0:
            following = block.find(_STATEMENT, at + len(_STATEMENT), end)
            value = _P31_STATEMENT.match(block, at, end)
            if value:  # the class is known at once
                if value.group(1) in self.numbers:
                    found.add(self.numbers[value.group(1)])
            elif not _P31_NO_VALUE.match(block, at, end):
                for m in self.classes.finditer(block, at, end if following < 0 else following):
                    found.add(self.names[m.group(1) or m.group(2)])
            at = following
        return frozenset(found)

    def _classes_near_snaks(self, block: bytes, a: int, b: int) -> frozenset[str]:
        """Every snak that says "property":"P31" is searched within a few hundred bytes of it, whatever the key
        order; a line written another way (spaces after colons) is searched whole."""
        found: set[str] = set()
        at = block.find(_P31_SNAK, a, b)
        if at < 0 and block.find(b'"P31"', a, b) >= 0:
            found.update(self.names[m.group(1) or m.group(2)] for m in self.classes.finditer(block, a, b))
        while at >= 0:
            if block[at + len(_P31_SNAK)] == 0x22:  # "P31" itself, not P310
                for m in self.classes.finditer(block, max(a, at - _SNAK_WINDOW), min(b, at + _SNAK_WINDOW)):
                    found.add(self.names[m.group(1) or m.group(2)])
            at = block.find(_P31_SNAK, at + len(_P31_SNAK), b)
        return frozenset(found)

    def _labels(self, block: bytes, a: int, b: int) -> str | None:
        """The labels in the plan's languages as JSON. In the dump's layout the labels object is cut out and
        decoded into the raw bytes of the wanted entries only (the whole object checked as JSON, nothing else
        built), which are kept as they stand; otherwise the labels object is parsed."""
        key = block.find(_LABELS_KEY, a, min(b, a + _ID_WINDOW + 200))
        if key >= 0:
            start = key + len(_LABELS_KEY)
            end = block.find(_LABELS_END, start, b)
            if end >= 0 and _LABEL_ENTRY.match(block, start):
                try:
                    entries = msgspec.structs.astuple(self.label_entries.decode(block[start - 1:end + 1]))
                    parts = [name + bytes(entry) for name, entry in zip(self.label_keys, entries) if entry]
                    return (b"{" + b",".join(parts) + b"}").decode() if parts else None
                except (msgspec.DecodeError, UnicodeDecodeError):
                    pass  # the decoder does not check the UTF-8 of what it skips: the parse below says
        return self._labels_parsed(block, a, b)

    def _labels_parsed(self, block: bytes, a: int, b: int) -> str | None:
        labels = None
        key = block.find(b'"labels"', a, min(b, a + _ID_WINDOW + 200))
        end = block.find(b'"descriptions"', key, b) if key >= 0 else -1
        if end > 0:
            colon = block.find(b":", key + 8, end)
            try:
                labels = orjson.loads(block[colon + 1:end].rstrip().rstrip(b","))
            except orjson.JSONDecodeError:
                labels = None
        if labels is None:
            try:  # labels not first, or not cut cleanly: parse the whole line
                labels = orjson.loads(block[a:b]).get("labels")
            except (orjson.JSONDecodeError, AttributeError):
                return None
        if not isinstance(labels, dict):
            return None
        wanted = {code: entry for code, entry in labels.items() if code in self.languages}
        return orjson.dumps(wanted).decode() if wanted else None

    def _parse(self, line: bytes) -> dict[str, Any]:
        if len(line) > self.plan.row_bytes:
            raise _Problem(OVERSIZED_FIELD, f"the row is {len(line)} bytes, more than limits.row_bytes={self.plan.row_bytes}")
        try:
            obj = orjson.loads(line)  # from the bytes: a str of the line would cost as much again
        except orjson.JSONDecodeError:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Problem(BAD_ENCODING, f"not valid UTF-8: byte {line[exc.start]:#04x} at offset {exc.start}") from None
            try:  # the standard parser's message says where, as quarantine details always have
                json.loads(text)
                detail = "not valid JSON"
            except json.JSONDecodeError as exc:
                detail = f"not valid JSON ({exc.msg} at column {exc.colno})"
            raise _Problem(MALFORMED_JSON, detail) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise _Problem(INVALID_ROW, "expected a Wikidata entity: a JSON object with an 'id'")
        for key in ("labels", "descriptions", "aliases", "claims"):
            if not isinstance(obj.get(key, {}), dict):
                raise _Problem(INVALID_ROW, f"field '{key}': expected an object keyed by language or property")
        return obj

    def _slim(self, obj: dict[str, Any], line: bytes, line_no: int) -> dict[str, Any]:
        """The entity as seeds read it: texts in the plan's languages, the chosen values of the plan's properties."""
        claims = obj.get("claims") or {}
        values = {}
        for pid in self.plan.properties:
            chosen = chosen_values(claims[pid]) if pid in claims else None
            if chosen:
                values[pid] = chosen
        # By language, not by entry: a famous entity has labels in hundreds of languages.
        texts = {key: {code: entries[code] for code in self.plan.languages if code in entries}
                 for key, entries in ((key, obj.get(key) or {}) for key in ("labels", "descriptions", "aliases"))}
        return _row(obj["id"], texts, values, line, line_no)


class WorkerFailed(Exception):
    """A block's scan failed in a worker process; the message is the worker's traceback."""


def serve_blocks(plan: ScanPlan, blocks_file: str, label_file: str, conn: Connection) -> None:
    """A worker process: maps the reading process's block file, says it is ready, then scans the blocks the
    connection names in the order they come and sends back each result (a WorkerFailed for a block that
    raised) until it receives None. A task is (block number, (offset, size) in the block file or the bytes of
    lines longer than a slot). Blocks are scanned where they lie in the mapping, not copied out: on two cores
    the copy's memory traffic cost a sixth of the scan. The labels of every item go to `label_file`, ordered
    by block number and line, not back through the pipe (most are never wanted). Workers import this module
    only (no DuckDB, no Arrow), so they start quickly."""
    try:
        with open(blocks_file, "rb") as file:
            blocks = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        return  # the reading process finished (or stopped) before this worker started: nothing to do
    scanner = BlockScanner(plan)
    try:
        with open(label_file, "ab") as labels:
            conn.send("ready")
            while (task := conn.recv()) is not None:
                number, work = task
                try:
                    if isinstance(work, bytes):
                        result = scanner.scan(work, 1, label_order=label_order(number))
                    else:
                        offset, size = work
                        result = scanner.scan(blocks, 1, offset + size, begin=offset, label_order=label_order(number))
                    labels.writelines(result.labels)
                    labels.flush()  # on disk before the result is: the reading process may stop this worker once it has them all
                    result.labels = []
                except Exception:
                    result = WorkerFailed(traceback.format_exc())
                conn.send(result)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the reading process stopped
    finally:
        blocks.close()


def label_order(block_number: int) -> int:
    """The order of a block's first label row: blocks in dump order, lines in block order."""
    return block_number << 32


def chosen_values(statements: Any) -> list[dict[str, Any]]:
    """The datavalues seeds read from one property's statements: preferred ones if any, else all but
    deprecated ones; "no value" and "unknown value" say nothing to write about."""
    if not isinstance(statements, list):
        return []
    kept, preferred = [], []  # in one pass: a famous entity has hundreds of statements
    for statement in statements:
        if isinstance(statement, dict):
            rank = statement.get("rank")
            if rank == "preferred":
                preferred.append(statement)
            elif rank != "deprecated":
                kept.append(statement)
    values = []
    for statement in preferred or kept:
        snak = statement.get("mainsnak") or {}
        if snak.get("snaktype") == "value":
            values.append(snak.get("datavalue") or {})
    return values


def _row(qid: str, texts: dict[str, dict], values: dict[str, list], line: bytes, line_no: int) -> dict[str, Any]:
    """An extract row: the slimmed entity as JSON, its classes, and the items its values name (whose labels it needs)."""
    refs = {ref for chosen in values.values() for datavalue in chosen
            if datavalue.__class__ is dict and datavalue.get("type") in _REF_KINDS and (ref := _value_ref(datavalue))}
    classes = [ref for ref in map(_item_ref, values.get(CLASS_PROPERTY, ())) if ref]
    return {"line": line_no, "id": qid, "classes": classes, "refs": sorted(refs),
            "entity": orjson.dumps({**texts, "values": values}).decode(), "raw": clip_raw(line)}


def _chosen_decoded(statements: list[_Statement]) -> list[Any]:
    """chosen_values of statements the decoder built."""
    preferred = [s for s in statements if s.rank == "preferred"]
    return [s.mainsnak.datavalue or {} for s in preferred or [s for s in statements if s.rank != "deprecated"]
            if s.mainsnak is not None and s.mainsnak.snaktype == "value"]


def _item_ref(datavalue: Any) -> str | None:
    if not isinstance(datavalue, dict) or datavalue.get("type") != "wikibase-entityid":  # a dirty dump's may be any JSON
        return None
    return _item_id(datavalue.get("value"))


def _value_ref(datavalue: dict[str, Any]) -> str | None:
    """The item a value names (an item value, or a quantity's unit), whose label a fact needs."""
    kind, value = datavalue.get("type"), datavalue.get("value")
    if kind == "wikibase-entityid":
        return _item_id(value)
    if kind == "quantity" and isinstance(value, dict):
        unit = value.get("unit", "1")
        return unit.removeprefix(_ITEM_URI) if isinstance(unit, str) and unit != "1" else None
    return None


def _item_id(value: Any) -> str | None:
    """An item value's id, else Q and its numeric id; None when it has neither as a string or a number (a dirty
    dump's may hold anything: an id that is no string once stopped the scan)."""
    if not isinstance(value, dict):
        return None
    qid, number = value.get("id"), value.get("numeric-id")
    if isinstance(qid, str) and qid:
        return qid
    return f"Q{number}" if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else None


_SPACE = frozenset(b" \t\r\x0b\x0c")


def _entity_id(block: bytes, a: int, b: int) -> str | None:
    """The entity's id from the line's first bytes ("type" and "id" come first in dumps)."""
    at = block.find(_ID_KEY, a, min(b, a + _ID_WINDOW))
    if at >= 0:
        close = block.find(b'"', at + len(_ID_KEY), at + 40)
        if close > 0 and _ID_VALUE.fullmatch(block, at + len(_ID_KEY), close):
            return block[at + len(_ID_KEY):close].decode("ascii")
    match = _ENTITY_ID.search(block, a, min(b, a + _ID_WINDOW))
    return match.group(1).decode("ascii") if match else None


def _entity_span(block: bytes, a: int, b: int) -> tuple[int, int]:
    """Where the entity of the line block[a:b] lies: without the array's "[", "," and "]" (an entity is an
    object, so those belong to the array) or surrounding whitespace."""
    a, b = _strip(block, a, b)
    if a < b and block[a] == 0x5B:  # [
        a, b = _strip(block, a + 1, b)
    if a < b and block[b - 1] == 0x2C:  # ,
        a, b = _strip(block, a, b - 1)
    if a < b and block[b - 1] == 0x5D:  # ]
        a, b = _strip(block, a, b - 1)
    return a, b


def _strip(block: bytes, a: int, b: int) -> tuple[int, int]:
    while a < b and block[a] in _SPACE:
        a += 1
    while b > a and block[b - 1] in _SPACE:
        b -= 1
    return a, b
