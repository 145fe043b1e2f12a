"""filtered_articles' contract on the stored partition, in memory bounded by a chunk at any partition size.

The suite's row-by-row expectations (types, nulls, value sets, ranges, the detected language) run in
great-expectations on the kept articles a chunk at a time, their counts added up; the expectations over
the whole partition (draft_id and text unique, every article a draft of the partition, the kept share)
and the cross-table rule (every draft kept or rejected, once) are DuckDB SQL over the stored tables,
under a memory limit (DuckDB spills beyond it). Names, severities and observed figures are those of
validation.check_partition on a frame, which the tests compare. Imports great-expectations (see suites.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from cosmo_assets.config import CosmoConfig
from cosmo_assets.contracts.outcomes import EXAMPLES, ExpectationResult, Outcome
from cosmo_assets.contracts.rules import min_kept_articles
from cosmo_assets.contracts.suites import WARNING, filtered_articles_expectations
from cosmo_assets.contracts.validation import _plain, run_suite
from cosmo_assets.storage import Storage, empty_frame

CHECK_MEMORY_LIMIT = "512MB"  # DuckDB's share of the whole-partition expectations; it spills beyond it
_WHERE = "domain = $domain AND language = $language"
_KEPT = f'(SELECT * FROM "filtered_articles" WHERE {_WHERE})'
_DRAFTS = f'(SELECT draft_id, status FROM "drafts" WHERE {_WHERE})'
_REJECTED = f'(SELECT draft_id FROM "rejected_drafts" WHERE {_WHERE})'


def check_stored_articles(storage: Storage, partition: Mapping[str, str], config: CosmoConfig,
                          chunk_rows: int = 20_000, memory_limit: str = CHECK_MEMORY_LIMIT) -> Outcome:
    """The filter_contract of one stored partition (its filtered_articles, rejected_drafts and drafts)."""
    started = time.perf_counter()
    expectations = filtered_articles_expectations(config)
    whole = [e for e in expectations if _over_whole_partition(e)]
    per_row = gx.ExpectationSuite(name="filtered_articles_rows",
                                  expectations=[e for e in expectations if not _over_whole_partition(e)])
    part = {"domain": partition["domain"], "language": partition["language"]}
    with storage.connect(read_only=True) as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = sorted({"filtered_articles", "rejected_drafts", "drafts"} - tables)
        if missing:
            raise ValueError(f"filter_contract of {part}: the storage has no table {missing}; run the filter stage first")
        by_name = {e.description: _whole_result(con, e, part, config) for e in whole}
        decided = _decided_once(con, part)
    merged, rows = None, 0
    for chunk in storage.read_chunks("filtered_articles", part, chunk_rows, "draft_id"):
        results = run_suite(per_row, chunk, "draft_id")
        merged = results if merged is None else [_merge(a, b) for a, b in zip(merged, results)]
        rows += chunk.height
    if merged is None:  # nothing kept: the row expectations still report, on no rows
        merged = run_suite(per_row, empty_frame("filtered_articles"), "draft_id")
    by_name.update({r.name: r for r in merged})
    results = [by_name[e.description] for e in expectations] + [decided]
    return Outcome(results, rows=rows, validation_s=time.perf_counter() - started)


def _over_whole_partition(expectation: gxe.Expectation) -> bool:
    """Uniqueness, the row count and value sets given at run time need every row at once."""
    if isinstance(expectation, (gxe.ExpectColumnValuesToBeUnique, gxe.ExpectTableRowCountToBeBetween)):
        return True
    return any(isinstance(v, dict) and "$PARAMETER" in v for v in expectation.configuration.kwargs.values())


def _severity(expectation: gxe.Expectation) -> str:
    return "warn" if str(getattr(expectation.severity, "value", expectation.severity)) == WARNING else "error"


def _whole_result(con, expectation: gxe.Expectation, part: dict, config: CosmoConfig) -> ExpectationResult:
    """One whole-partition expectation of the suite, computed in SQL."""
    kept = con.execute(f"SELECT count(*) FROM {_KEPT}", part).fetchone()[0]
    if isinstance(expectation, gxe.ExpectTableRowCountToBeBetween):
        drafts, asked = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE status <> 'skipped_budget') FROM {_DRAFTS}", part).fetchone()
        low = min_kept_articles(asked, config.filters.for_model(config.model.model).min_kept_share)
        return ExpectationResult(expectation.description, low <= kept <= drafts, _severity(expectation), kept,
                                 rule=f"duckdb: {low} <= count(*) of the kept articles <= {drafts} (drafts)")
    column = expectation.column
    if isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
        # Grouped by a 128-bit digest, not the value: 1M texts of 2.6 KB would not fit the cap (OutOfMemory).
        digest = f'md5_number(CAST("{column}" AS VARCHAR))'
        where = (f"{digest} IN (SELECT {digest} FROM {_KEPT} WHERE \"{column}\" IS NOT NULL "
                 f"GROUP BY {digest} HAVING count(*) > 1)")
        rule = f"duckdb: no two kept articles share a {column}"
    elif isinstance(expectation, gxe.ExpectColumnValuesToBeInSet) and column == "draft_id":
        where = f"draft_id NOT IN (SELECT draft_id FROM {_DRAFTS})"
        rule = "duckdb: every kept draft_id is among the drafts of the partition"
    else:
        raise ValueError(f"filter_contract: no SQL for the whole-partition expectation {expectation.description!r}")
    bad = con.execute(f"SELECT count(*) FROM {_KEPT} WHERE {where}", part).fetchone()[0]
    examples = con.execute(
        f'SELECT draft_id, "{column}" FROM {_KEPT} WHERE {where} ORDER BY draft_id LIMIT {EXAMPLES}', part).fetchall()
    return ExpectationResult(
        expectation.description, bad == 0, _severity(expectation), {"unexpected_rows": bad, "rows_checked": kept},
        [{"draft_id": d, "value": _plain(v)} for d, v in examples], rule=rule,
    )


def _decided_once(con, part: dict) -> ExpectationResult:
    """rules.every_draft_decided_once, over the stored tables."""
    counts = con.execute(f"""
        WITH decided AS (SELECT draft_id FROM {_KEPT} UNION ALL SELECT draft_id FROM {_REJECTED}),
             undecided AS (SELECT draft_id FROM {_DRAFTS} WHERE draft_id NOT IN (SELECT draft_id FROM decided)),
             twice AS (SELECT draft_id FROM decided GROUP BY draft_id HAVING count(*) > 1),
             unknown AS (SELECT draft_id FROM decided WHERE draft_id NOT IN (SELECT draft_id FROM {_DRAFTS}))
        SELECT (SELECT count(*) FROM {_DRAFTS}), (SELECT count(*) FROM {_KEPT}), (SELECT count(*) FROM {_REJECTED}),
               (SELECT count(*) FROM undecided), (SELECT count(*) FROM twice), (SELECT count(*) FROM unknown),
               (SELECT list(draft_id ORDER BY draft_id)[:{EXAMPLES}] FROM undecided),
               (SELECT list(draft_id ORDER BY draft_id)[:{EXAMPLES}] FROM twice),
               (SELECT list(draft_id ORDER BY draft_id)[:{EXAMPLES}] FROM unknown)
    """, part).fetchone()
    drafts, kept, rejected, undecided, twice, unknown = counts[:6]
    examples = [d for found in counts[6:] for d in (found or [])][:EXAMPLES]
    return ExpectationResult(
        name="every draft is kept or rejected, once",
        passed=not (undecided or twice or unknown),
        severity="error",
        observed={"drafts": drafts, "kept": kept, "rejected": rejected, "undecided": undecided,
                  "decided_twice": twice, "not_a_draft_of_this_partition": unknown},
        unexpected_examples=examples,
        rule="duckdb: drafts anti-join (kept ∪ rejected) is empty, and kept ∩ rejected is empty",
    )


def _merge(first: ExpectationResult, then: ExpectationResult) -> ExpectationResult:
    """One expectation over two chunks: counts added, examples from the first chunks that had some."""
    observed: Any = first.observed
    passed = first.passed and then.passed
    a, b = first.observed, then.observed
    if isinstance(a, dict) and isinstance(b, dict) and "unexpected_rows" in a and "unexpected_rows" in b:
        observed = {**a, "unexpected_rows": a["unexpected_rows"] + b["unexpected_rows"],
                    "rows_checked": a.get("rows_checked", 0) + b.get("rows_checked", 0)}
        if "share_required" in observed and observed["rows_checked"]:  # `mostly`: judged on the sum
            observed["share_meeting_it"] = round(1 - observed["unexpected_rows"] / observed["rows_checked"], 4)
            passed = observed["share_meeting_it"] >= observed["share_required"]
    elif first.passed and not then.passed:
        observed = then.observed
    examples = (first.unexpected_examples + then.unexpected_examples)[:EXAMPLES]
    return dataclasses.replace(first, passed=passed, observed=observed, unexpected_examples=examples)
