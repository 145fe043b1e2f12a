"""What a check reports: one Outcome, whatever checked it. A table's great-expectations contract, a
cross-table rule and a polars check of a release table all give a list of ExpectationResults, each with
its severity, and figures for the UI; the Dagster layer turns any Outcome into a check result in one
place (defs/shared.py check_fields). No Dagster, no great-expectations here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cosmo_assets.display import clip

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
    message: str = ""  # what failed, in words, where the check says it better than its name and observed value

    @property
    def failure(self) -> str:
        """The failure as the check's description says it."""
        return self.message or f"{self.severity.upper()} {self.name} (observed: {_short(self.observed)})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "observed": self.observed,
            "unexpected_examples": self.unexpected_examples,
            "rule": self.rule,
            "message": self.message,
        }


def expect(name: str, ok: bool, message: str, observed: Any = None, severity: Severity = "error") -> ExpectationResult:
    """A polars check's expectation: `name` says what should hold, `message` what failed, in words."""
    return ExpectationResult(name, bool(ok), severity, observed, message=message)


@dataclass(frozen=True)
class Outcome:
    """A check's outcome on one partition. Failed ERROR expectations block what follows; failed WARN
    expectations only show."""

    results: list[ExpectationResult]
    figures: dict[str, Any] = field(default_factory=dict)  # the check's own numbers for the UI
    rows: int | None = None  # rows checked, where the check reads one table
    validation_s: float | None = None  # time the great-expectations run took
    passed_description: str = ""  # said when every expectation held; by default, how many held

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[ExpectationResult]:
        # Errors first: they are why a partition stopped.
        return sorted((r for r in self.results if not r.passed), key=lambda r: r.severity != "error")

    @property
    def failures(self) -> list[str]:
        """Every failure in words, errors first."""
        return [r.failure for r in self.failed]

    @property
    def severity(self) -> Severity:
        """WARN when every failed expectation is a warning (or, when none failed, every expectation is);
        ERROR otherwise."""
        judged = self.failed or self.results
        return "warn" if judged and all(r.severity == "warn" for r in judged) else "error"

    @property
    def description(self) -> str:
        if not self.passed:
            return clip("; ".join(self.failures), 1500)
        if self.passed_description:
            return self.passed_description
        on_rows = f" on {self.rows} rows" if self.rows is not None else ""
        return f"all {len(self.results)} expectations met{on_rows}"

    def markdown(self) -> str:
        """Every expectation as a table row, failures first, for the Dagster UI."""
        ordered = self.failed + [r for r in self.results if r.passed]
        lines = ["| expectation | severity | result | observed | unexpected examples |", "|---|---|---|---|---|"]
        for r in ordered:
            result = "passed" if r.passed else "**FAILED**"
            cells = [r.name, r.severity, result, _short(r.observed), _short(r.unexpected_examples) if r.unexpected_examples else ""]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(lines)

    @property
    def metadata(self) -> dict[str, Any]:
        """Plain values for the check's metadata: the check's figures, then what every check reports
        (Markdown under "expectations"); the Dagster layer wraps them."""
        failed = self.failed
        counted = {"rows": self.rows} if self.rows is not None else {}
        timed = {"validation_s": round(self.validation_s, 3)} if self.validation_s is not None else {}
        return {
            **self.figures,
            **counted,
            "expectations_evaluated": len(self.results),
            "failed_errors": sum(r.severity == "error" for r in failed),
            "failed_warnings": sum(r.severity == "warn" for r in failed),
            **timed,
            "expectations": self.markdown(),
            "failed": [r.as_dict() for r in failed],
            "failures": [r.failure for r in failed],
        }


def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        value = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return clip(str(value), limit)


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")
