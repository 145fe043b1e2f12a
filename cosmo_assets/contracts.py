"""What each stage's output must satisfy: outcome types for the data contracts, and the rules that
span tables or rows, which great-expectations does not express on one frame (no Dagster, no GX here).

The great-expectations suites themselves live in `cosmo_assets.expectations`; this module stays free
of GX so that importing the Dagster definitions does not pay GX's import time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

Severity = Literal["error", "warn"]
EXAMPLES = 3  # unexpected examples kept per expectation: enough to see the pattern, small in the UI


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation checked on one partition: its name, whether it held, and what was seen."""

    name: str
    passed: bool
    severity: Severity
    observed: Any = None
    unexpected_examples: list[Any] = field(default_factory=list)
    rule: str = ""  # the GX expectation and its arguments, or the polars rule, for a reader to reproduce

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "observed": self.observed,
            "unexpected_examples": self.unexpected_examples,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class ContractOutcome:
    """A table's whole contract on one partition. Failed ERROR expectations block what follows;
    failed WARN expectations only show."""

    table: str
    rows: int
    results: list[ExpectationResult]
    validation_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[ExpectationResult]:
        # Errors first: they are why a partition stopped.
        return sorted((r for r in self.results if not r.passed), key=lambda r: r.severity != "error")

    @property
    def severity(self) -> Severity:
        """The check's severity: WARN only when there are failures and every one is a warning."""
        failed = self.failed
        return "warn" if failed and all(r.severity == "warn" for r in failed) else "error"

    @property
    def description(self) -> str:
        if self.passed:
            return f"all {len(self.results)} expectations met on {self.rows} rows"
        parts = [f"{r.severity.upper()} {r.name} (observed: {_short(r.observed)})" for r in self.failed]
        return _clip("; ".join(parts), 1500)

    def markdown(self) -> str:
        """Every expectation as a table row, failures first, for the Dagster UI."""
        ordered = self.failed + [r for r in self.results if r.passed]
        lines = ["| expectation | severity | result | observed | unexpected examples |", "|---|---|---|---|---|"]
        for r in ordered:
            result = "passed" if r.passed else "**FAILED**"
            cells = [r.name, r.severity, result, _short(r.observed), _short(r.unexpected_examples) if r.unexpected_examples else ""]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(lines)

    def metadata(self) -> dict[str, Any]:
        """Plain values for the check's metadata; the Dagster layer wraps them."""
        failed = self.failed
        return {
            "rows": self.rows,
            "expectations_evaluated": len(self.results),
            "failed_errors": sum(r.severity == "error" for r in failed),
            "failed_warnings": sum(r.severity == "warn" for r in failed),
            "validation_s": round(self.validation_s, 3),
            "expectations": self.markdown(),
            "failed": [r.as_dict() for r in failed],
        }


# --- rules across tables or rows (GX checks one frame's columns) ----------------------------------


def every_draft_decided_once(kept: pl.DataFrame, rejected: pl.DataFrame, drafts: pl.DataFrame) -> ExpectationResult:
    """Each draft of the partition lands in exactly one of filtered_articles and rejected_drafts."""
    ids = pl.col("draft_id").cast(pl.String)  # a malformed frame fails its schema expectations, not this rule
    decided = pl.concat([kept.select(ids), rejected.select(ids)])
    drafts = drafts.select(ids)
    undecided = drafts.join(decided, on="draft_id", how="anti")["draft_id"].to_list()
    twice = sorted(set(decided.filter(pl.col("draft_id").is_duplicated())["draft_id"].to_list()))
    unknown = decided.join(drafts, on="draft_id", how="anti")["draft_id"].to_list()
    return ExpectationResult(
        name="every draft is kept or rejected, once",
        passed=not (undecided or twice or unknown),
        severity="error",
        observed={
            "drafts": drafts.height, "kept": kept.height, "rejected": rejected.height,
            "undecided": len(undecided), "decided_twice": len(twice), "not_a_draft_of_this_partition": len(unknown),
        },
        unexpected_examples=(undecided + twice + unknown)[:EXAMPLES],
        rule="polars: drafts anti-join (kept ∪ rejected) is empty, and kept ∩ rejected is empty",
    )


def _articles_per_key_within_cap(dataset: pl.DataFrame, column: str, what: str, cap: int, setting: str) -> ExpectationResult:
    # Real text has no seed or template: only synthetic articles count against the caps.
    counts = dataset.select(pl.col(column).cast(pl.String)).drop_nulls().group_by(column).len()
    over = counts.filter(pl.col("len") > cap).sort("len", descending=True)
    return ExpectationResult(
        name=f"no {what} has more than {cap} articles (balance.yaml {setting})",
        passed=over.height == 0,
        severity="error",
        observed={f"most_articles_of_one_{what}": int(counts["len"].max() or 0), f"{what}s_over_cap": over.height},
        unexpected_examples=[f"{key}: {n}" for key, n in over.head(EXAMPLES).iter_rows()],
        rule=f"polars: max(count(*) GROUP BY {column}) <= {cap}",
    )


def articles_per_seed_within_cap(dataset: pl.DataFrame, max_per_seed: int) -> ExpectationResult:
    """No seed has more released articles than balance.yaml max_per_seed allows."""
    return _articles_per_key_within_cap(dataset, "seed_id", "seed", max_per_seed, "max_per_seed")


def articles_per_template_within_cap(dataset: pl.DataFrame, max_per_template: int) -> ExpectationResult:
    """No template has more released articles than balance.yaml max_per_template allows."""
    return _articles_per_key_within_cap(dataset, "template_id", "template", max_per_template, "max_per_template")


def quarantined_share_within_limit(quarantine: pl.DataFrame, read: int, max_bad_share: float) -> ExpectationResult:
    """Bad knowledge-base rows go to seed_quarantine; too many of them means the source itself is broken."""
    share = quarantine.height / read if read else 0.0
    reasons = dict(sorted(quarantine.group_by("reason").len().iter_rows())) if quarantine.height else {}
    return ExpectationResult(
        name=f"quarantined share of knowledge-base rows is at most {max_bad_share:.0%} (seeds.yaml max_bad_share)",
        passed=share <= max_bad_share,
        severity="error",
        observed={"rows_read": read, "quarantined": quarantine.height, "bad_share": round(share, 4), "reasons": reasons},
        unexpected_examples=[f"{loc}: {reason}" for loc, reason in quarantine.select("location", "reason").head(EXAMPLES).iter_rows()]
        if quarantine.height else [],
        rule="polars: count(seed_quarantine) / rows read <= max_bad_share",
    )


def outlines_use_their_seed_facts(outlines: pl.DataFrame, seeds: pl.DataFrame) -> ExpectationResult:
    """Grounding: an outline lists facts of its own seed and only those; a seed with facts gives it some."""
    facts_type = pl.List(pl.Struct({"property": pl.String, "value": pl.String}))
    if outlines.schema.get("required_facts") != facts_type or seeds.schema.get("facts") != facts_type:
        # A malformed frame fails its schema expectations; this rule judges well-formed facts only.
        return ExpectationResult(
            name="every outline lists facts of its own seed, and only those", passed=True, severity="error",
            observed="not evaluated: required_facts or facts is not a list of {property, value}",
        )
    seed_facts = {s["seed_id"]: {(x["property"], x["value"]) for x in s["facts"] or []} for s in seeds.iter_rows(named=True)}
    ungrounded: list[str] = []
    without_facts: list[str] = []
    for o in outlines.iter_rows(named=True):
        listed = {(x["property"], x["value"]) for x in o["required_facts"] or []}
        known = seed_facts.get(o["seed_id"], set())
        if listed - known:
            ungrounded.append(o["outline_id"])
        if known and not listed:
            without_facts.append(o["outline_id"])
    return ExpectationResult(
        name="every outline lists facts of its own seed, and only those",
        passed=not (ungrounded or without_facts),
        severity="error",
        observed={"outlines": outlines.height, "facts_not_of_their_seed": len(ungrounded), "no_facts": len(without_facts)},
        unexpected_examples=(ungrounded + without_facts)[:EXAMPLES],
        rule="polars: required_facts is a non-empty subset of the seed's facts",
    )


def as_expectation(name: str, outcome: "CheckOutcome") -> ExpectationResult:
    """A polars-rule outcome (CheckOutcome) as one expectation of a great-expectations contract."""
    return ExpectationResult(
        name=name, passed=outcome.passed, severity="error", observed=outcome.metadata,
        unexpected_examples=outcome.failures[:EXAMPLES], rule="polars: " + (outcome.description or ""),
    )


# --- the export (files on disk, not a table) ------------------------------------------------------


@dataclass
class CheckOutcome:
    passed: bool
    failures: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return "; ".join(self.failures) if self.failures else "all expectations met"


def _expect(failures: list[str], ok: bool, message: str) -> None:
    if not ok:
        failures.append(message)


def _unique(frame: pl.DataFrame, column: str) -> int:
    """Number of rows whose `column` value appears more than once."""
    return int(frame[column].is_duplicated().sum()) if frame.height else 0


def check_candidates(candidates: pl.DataFrame) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(candidates, "id")
    _expect(f, dup == 0, f"{dup} rows share an id")
    same_text = _unique(candidates, "text_key")
    _expect(f, same_text == 0, f"{same_text} candidates share a text")
    return CheckOutcome(not f, f, {"rows": candidates.height, "duplicate_texts": same_text})


def check_allocation(allocation: pl.DataFrame, candidates: pl.DataFrame, planned_size: int) -> CheckOutcome:
    f: list[str] = []
    _expect(f, _unique(allocation, "id") == 0, "a candidate is decided twice")
    undecided = candidates.join(allocation, on="id", how="anti").height
    _expect(f, undecided == 0, f"{undecided} candidates have no decision")
    selected = allocation.filter(pl.col("selected")).height
    _expect(f, selected == planned_size, f"{selected} candidates selected, the plan says {planned_size}")
    return CheckOutcome(not f, f, {"candidates": candidates.height, "selected": selected})


def check_real_text(real_text: pl.DataFrame) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(real_text, "id")
    _expect(f, dup == 0, f"{dup} rows share an id")
    blank = real_text.filter(pl.col("text").str.strip_chars() == "").height
    _expect(f, blank == 0, f"{blank} texts are empty")
    return CheckOutcome(not f, f, {"rows": real_text.height})


def check_quotas(report: pl.DataFrame) -> CheckOutcome:
    """Fails on a target missed by more than the tolerance while the supply would have allowed it
    (status `missed`); targets relaxed to the supply, and values with no supply, pass and are listed."""
    def describe(r: dict) -> str:
        kind = "minimum share" if r["kind"] == "floor" else "target"
        return (f"{r['dimension']}={r['value']}: {kind} {r['target']:.3f}, achieved {r['achieved']:.3f} "
                f"({r['released']} released, supply {r['supply']}): {r['note']}")

    missed = [describe(r) for r in report.filter(pl.col("status") == "missed").iter_rows(named=True)]
    relaxed = [describe(r) for r in report.filter(pl.col("status") == "relaxed").iter_rows(named=True)]
    no_supply = [describe(r) for r in report.filter(pl.col("status") == "no supply").iter_rows(named=True)]
    status = dict(report.group_by("status").len().sort("status").iter_rows()) if report.height else {}
    return CheckOutcome(not missed, missed, {"targets": report.height, "by_status": status, "relaxed": relaxed,
                                             "no_supply": no_supply})


def check_review_sample(sample: pl.DataFrame, dataset: pl.DataFrame, per_stratum: int, rejected_per_stratum: int = 0) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(sample, "id")
    _expect(f, dup == 0, f"{dup} rows share an id")
    kind = pl.col("kind") if "kind" in sample.columns else pl.lit("released")
    released, rejected = sample.filter(kind == "released"), sample.filter(kind == "rejected")
    strangers = released.join(dataset, on="id", how="anti").height
    _expect(f, strangers == 0, f"{strangers} sampled ids are not in the release")
    leaked = rejected.join(dataset, on="id", how="semi").height
    _expect(f, leaked == 0, f"{leaked} rejected drafts sampled are in the release")
    strata = ["domain", "content_type", "template_id"]
    expected = (
        dataset.filter(pl.col("source") == "synthetic").group_by(strata).len()
        .with_columns(expected=pl.min_horizontal("len", pl.lit(per_stratum)))
    )
    got = released.group_by(strata).agg(sampled=pl.len())
    short = expected.join(got, on=strata, how="left").filter(pl.col("sampled").fill_null(0) != pl.col("expected")).height
    _expect(f, short == 0, f"{short} strata (domain x content type x template) are not sampled as configured")
    over = rejected.group_by(strata).len().filter(pl.col("len") > rejected_per_stratum).height
    _expect(f, over == 0, f"{over} strata have more than {rejected_per_stratum} rejected drafts")
    return CheckOutcome(not f, f, {"rows": sample.height, "strata": expected.height, "rejected": rejected.height})


def check_export(exported: pl.DataFrame, dataset: pl.DataFrame) -> CheckOutcome:
    f: list[str] = []
    _expect(f, exported.height == dataset.height, f"export has {exported.height} rows, dataset {dataset.height}")
    if exported.height and dataset.height:
        differ = set(exported["id"].to_list()) ^ set(dataset["id"].to_list())
        _expect(f, not differ, f"{len(differ)} ids differ between export and dataset")
    missing_cols = [c for c in dataset.columns if c not in exported.columns]
    _expect(f, not missing_cols, f"export lacks columns {missing_cols}")
    return CheckOutcome(not f, f, {"exported_rows": exported.height, "dataset_rows": dataset.height})


# --- helpers ---------------------------------------------------------------------------------------


def min_kept_articles(drafts: int, min_kept_share: float) -> int:
    """The fewest kept articles that meet filters.yaml min_kept_share for a partition of `drafts`."""
    return math.ceil(round(drafts * min_kept_share, 9))


def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        value = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return _clip(str(value), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")



def check_outline_mix(mix: dict[str, dict], rows: int, tolerance_pp: float) -> CheckOutcome:
    """Each content type, audience and style is within tolerance of its configured share; a partition of N
    outlines cannot get closer than 100/N points, so that is the floor."""
    f: list[str] = []
    allowed = max(tolerance_pp, 100 / rows) if rows else 100.0
    for column, report in mix.items():
        over = {o: r["deviation_pp"] for o, r in report["options"].items() if r["deviation_pp"] > allowed}
        _expect(f, not over, f"{column}: {over} are more than {allowed:.1f} points from the configured mix")
    return CheckOutcome(
        not f, f,
        {"allowed_deviation_pp": round(allowed, 2), **{f"max_{c}_deviation_pp": r["max_deviation_pp"] for c, r in mix.items()}},
    )
