"""Achieved against target for every quota of a release, from the balance_composition model's rows,
judged by the rules of stages/quotas.py: met (within tolerance), relaxed (the supply could not meet
it: every candidate released), no supply (a configured value without candidates), or missed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

from cosmo_assets.config import QUOTA_DIMENSIONS, QuotaSettings
from cosmo_assets.stages.quotas import band, resolve_targets

REPORT_SCHEMA = {
    "dimension": pl.String,
    "value": pl.String,
    "kind": pl.String,  # target | floor
    "configured": pl.String,
    "target": pl.Float64,
    "achieved": pl.Float64,
    "released": pl.Int64,
    "supply": pl.Int64,
    "status": pl.String,  # met | relaxed | no supply | missed
    "note": pl.String,
}
STATUSES = ("met", "relaxed", "no supply", "missed")


def _judge(count: int, have: int, size: int, target: float, tol: float, others_room: int | None,
           no_exact_choice: bool = False) -> tuple[str, str]:
    low, high = band(target, size, tol)
    if low <= count <= high:
        return "met", ""
    if no_exact_choice and low - 1 < count < high + 1:
        return "relaxed", (f"{count} released, {max(low, 0):.1f}-{high:.1f} needed: within one article, and no choice "
                           "of the candidates holds every target at once (quota_allocation's shortfall)")
    below, above = math.floor(high + 1e-9), math.ceil(low - 1e-9)
    if below < above and count in (below, above):  # the band holds no whole article: the nearest count is all there is
        return "relaxed", f"no whole number of the {size} articles lies within {low:.1f}-{high:.1f}; {count} is next to it"
    if count < low:
        if count >= have:
            return "relaxed", f"all {have} candidates released; the target needs at least {max(low, 0):.1f} of {size}"
        return "missed", f"{count} released, at least {low:.1f} of {size} needed; {have} were available"
    if others_room is not None and others_room < size - high:
        return "relaxed", f"the other values could fill only {others_room} of the {size - high:.1f} places left"
    return "missed", f"{count} released, at most {high:.1f} of {size} allowed; the other values could fill the rest"


def quota_report(
    composition: pl.DataFrame,
    quotas: QuotaSettings,
    real_share: float = 0.0,
    configured_values: Mapping[str, Sequence[str]] | None = None,
    no_exact_choice: bool = False,
) -> pl.DataFrame:
    """One row per quota. `configured_values` (dimension: every value the configs declare) lets an
    `even` target list its values without candidates as `no supply` too. `no_exact_choice`: the
    allocation found no choice of candidates that holds every target at once (a small or lopsided
    pool), so a value one article off its band is relaxed, not missed."""
    synthetic = composition.filter(pl.col("dimension") != "source")
    released = {(d, v): int(n) for d, v, n in synthetic.select("dimension", "value", "released").iter_rows()}
    supply = {(d, v): int(n) for d, v, n in synthetic.select("dimension", "value", "supply").iter_rows()}
    size = int(composition.filter((pl.col("dimension") == "source") & (pl.col("value") == "synthetic"))["released"].sum())
    present = {d: [v for (dd, v), n in supply.items() if dd == d and n > 0] for d in QUOTA_DIMENSIONS}
    targets = resolve_targets(quotas, present)
    tol = quotas.tolerance
    rows: list[dict] = []

    for dim, shares in targets.items():
        configured = quotas.targets()[dim]
        for value, target in shares.items():
            count, have = released.get((dim, value), 0), supply.get((dim, value), 0)
            room = sum(min(supply.get((dim, w), 0), int(band(shares[w], size, tol)[1])) for w in shares if w != value)
            status, note = _judge(count, have, size, target, tol, room, no_exact_choice)
            rows.append(_row(dim, value, "target", _configured(configured, value), target, count, size, have, status, note))
        named = list(configured) if isinstance(configured, dict) else list((configured_values or {}).get(dim, ()))
        for value in named:
            share = float(configured.get(value, 0.0)) if isinstance(configured, dict) else 1 / len(named)
            if value not in shares and share > 0:
                rows.append(_row(dim, value, "target", _configured(configured, value), share, 0, size, 0, "no supply",
                                 "no candidates; its share went to the other values"))

    for domain, share in quotas.min_domain_share.items():
        count, have = released.get(("domain", domain), 0), supply.get(("domain", domain), 0)
        need = share * size
        if have == 0:
            status, note = "no supply", "no candidates"
        elif count >= need - 1e-6:
            status, note = "met", ""
        elif count >= have:
            status, note = "relaxed", f"all {have} candidates released; the floor needs {need:.1f} of {size}"
        else:
            status, note = "missed", f"{count} released, at least {need:.1f} of {size} needed; {have} were available"
        rows.append(_row("domain", domain, "floor", f">= {share:.3f}", share, count, size, have, status, note))

    if real_share > 0:
        source = composition.filter(pl.col("dimension") == "source")
        total = int(source["released"].sum())
        real = source.filter(pl.col("value") == "real")
        count, have = int(real["released"].sum()), int(real["supply"].sum())
        status, note = _judge(count, have, total, real_share, tol, None)
        rows.append(_row("source", "real", "target", f"{real_share:.3f}", real_share, count, total, have, status, note))
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)


def _configured(spec, value: str) -> str:
    return "even" if spec == "even" else f"{float(spec.get(value, 0.0)):.3f}"


def _row(dim, value, kind, configured, target, count, size, have, status, note) -> dict:
    return {
        "dimension": dim, "value": value, "kind": kind, "configured": configured, "target": round(target, 4),
        "achieved": round(count / size, 4) if size else 0.0, "released": count, "supply": have,
        "status": status, "note": note,
    }


def report_markdown(report: pl.DataFrame) -> str:
    """The report as a Markdown table, for the UI and the dataset card."""
    lines = ["| dimension | value | target | achieved | released | supply | status |", "|---|---|---|---|---|---|---|"]
    for r in report.iter_rows(named=True):
        target = f"≥ {r['target']:.3f}" if r["kind"] == "floor" else f"{r['target']:.3f}"
        status = r["status"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(
            f"| {r['dimension']} | {r['value']} | {target} | {r['achieved']:.3f} | {r['released']} | {r['supply']} | {status} |"
        )
    return "\n".join(lines)


def configured_values(config) -> dict[str, list[str]]:
    """Every value the configs declare per quota dimension (a CosmoConfig)."""
    from cosmo_assets.config import TOPIC_TYPES

    return {
        "domain": list(config.domain_names),
        "content_type": [c.id for c in config.outlines.content_types],
        "audience": [a.id for a in config.outlines.audiences],
        "topic_type": list(TOPIC_TYPES),
    }
