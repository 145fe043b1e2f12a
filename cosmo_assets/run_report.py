"""What the main command tells the user after its runs: why a run failed (the step and its error, the
check and its failing expectations with observed and expected values) and, per partition, what was
made. Read from the Dagster event log and the DuckDB file; never a traceback."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import dagster as dg

from cosmo_assets.storage import Storage

_MAX_EXPECTATIONS = 8


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    text = str(value)
    return text if len(text) <= 160 else text[:159] + "…"


def _root_message(error) -> str:
    """The innermost error's message: what the stage itself said, not Dagster's wrapping of it."""
    while error.cause is not None:
        error = error.cause
    text = re.sub(r"^[\w.]+\.(\w+: )", r"\1", error.message.strip())  # the class without its module path
    return " ".join(text.split())[:600]


def _meta(metadata, key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def _expectation_lines(evaluation) -> list[str]:
    """The failed expectations of a check (contracts/outcomes.py Outcome.metadata "failed"): in the check's
    own words where it has them (contracts/checks.py), else name, observed value and rule."""
    failed = _meta(evaluation.metadata, "failed")
    if not isinstance(failed, list) or not failed:  # a check that lists no expectations: its description
        return [f"      - {_short(evaluation.description or 'failed')}"]
    return [
        f"      - {_short(f['message'])}" if f.get("message") else
        f"      - {f.get('severity', 'error').upper()} {f.get('expectation')}: observed {_short(f.get('observed'))}"
        + (f"; expected {f['rule']}" if f.get("rule") else "")
        for f in failed[:_MAX_EXPECTATIONS]
    ]


def failure_lines(instance: dg.DagsterInstance, run_id: str, partition: str | None) -> list[str]:
    """The failed steps and failed checks of one run, as lines to print."""
    where = f" in partition {partition}" if partition else ""
    lines = []
    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
                continue  # the failed check itself is reported, with its expectations
            message = _root_message(error) if error else "no error recorded"
            lines.append(f"   step {event.step_key} failed{where}: {message}")
            continue
        evaluation = event.event_specific_data
        if evaluation.passed:
            continue
        severity = "warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed"
        lines.append(f"   check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} {severity}{where}:")
        lines.extend(_expectation_lines(evaluation))
    return lines


def partition_counts(storage: Storage, languages: Sequence[str], domains: Sequence[str]) -> list[tuple]:
    """(language, domain, drafts, generated, failed, skipped_budget, kept, completion_tokens) per partition."""
    with storage.connect(read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "drafts" not in tables:
            return []
        kept = ("count(f.draft_id)", "LEFT JOIN filtered_articles f USING (draft_id, domain, language)") \
            if "filtered_articles" in tables else ("0", "")
        return con.execute(
            f"""
            SELECT d.language, d.domain, count(*),
                   count(*) FILTER (WHERE d.status = 'ok'), count(*) FILTER (WHERE d.status = 'failed'),
                   count(*) FILTER (WHERE d.status = 'skipped_budget'), {kept[0]}, coalesce(sum(d.completion_tokens), 0)
            FROM drafts d {kept[1]}
            WHERE d.language IN (SELECT unnest($languages)) AND d.domain IN (SELECT unnest($domains))
            GROUP BY d.language, d.domain ORDER BY d.language, d.domain
            """,
            {"languages": list(languages), "domains": list(domains)},
        ).fetchall()


def released_rows(storage: Storage) -> dict[str, int]:
    with storage.connect(read_only=True) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'balanced_dataset'").fetchone()[0]:
            return {}
        return dict(con.execute("SELECT language, count(*) FROM balanced_dataset GROUP BY language").fetchall())
