"""What a check reports. Every outcome has the same face (the Outcome protocol): whether it passed, its
severity, a description and its metadata as plain values, which the Dagster layer turns into a check
result in one place (defs/shared.py check_result). Two kinds make one: a table's great-expectations
contract (ContractOutcome, one ExpectationResult per expectation) and a polars rule's (CheckOutcome).
No Dagster, no great-expectations here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cosmo_assets.display import clip

Severity = Literal["error", "warn"]
EXAMPLES = 3  # unexpected examples kept per expectation: enough to see the pattern, small in the UI


class Outcome(Protocol):
    """A check's outcome: ERROR failures block what follows, WARN failures only show."""

    @property
    def passed(self) -> bool: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def description(self) -> str: ...

    def check_metadata(self) -> dict[str, Any]:
        """Plain values for the check's metadata; Markdown under "expectations", JSON for lists."""
        ...


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
        return clip("; ".join(parts), 1500)

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

    def check_metadata(self) -> dict[str, Any]:
        return self.metadata()



@dataclass
class CheckOutcome:
    """A polars rule's outcome: what failed, in words, and figures for the UI."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "error"
    passed_description: str = "all expectations met"

    @property
    def description(self) -> str:
        return "; ".join(self.failures) if self.failures else self.passed_description

    def check_metadata(self) -> dict[str, Any]:
        return {**self.metadata, "failures": self.failures}



def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        value = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return clip(str(value), limit)



def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")
