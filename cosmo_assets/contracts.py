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


def articles_per_seed_within_cap(dataset: pl.DataFrame, max_per_seed: int) -> ExpectationResult:
    """No seed has more released articles than balance.yaml max_per_seed allows."""
    counts = dataset.select(pl.col("seed_id").cast(pl.String)).group_by("seed_id").len()
    over = counts.filter(pl.col("len") > max_per_seed).sort("len", descending=True)
    return ExpectationResult(
        name=f"no seed has more than {max_per_seed} articles (balance.yaml max_per_seed)",
        passed=over.height == 0,
        severity="error",
        observed={"most_articles_of_one_seed": int(counts["len"].max() or 0), "seeds_over_cap": over.height},
        unexpected_examples=[f"{s}: {n}" for s, n in over.head(EXAMPLES).iter_rows()],
        rule=f"polars: max(count(*) GROUP BY seed_id) <= {max_per_seed}",
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

