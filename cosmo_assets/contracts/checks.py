"""Checks of release tables, the export and the outline mix: polars rules, each giving a CheckOutcome
(no GX here)."""

from __future__ import annotations

import polars as pl

from cosmo_assets.contracts.outcomes import CheckOutcome


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


def check_rephrased(rephrased: pl.DataFrame, articles: pl.DataFrame) -> CheckOutcome:
    """Rephrased articles: unique ids; each names a kept article of its partition; kept ones have text and no reason."""
    f: list[str] = []
    dup = _unique(rephrased, "rephrase_id")
    _expect(f, dup == 0, f"{dup} rows share a rephrase_id")
    orphans = rephrased.filter(~pl.col("derived_from").is_in(articles["draft_id"].implode())).height
    _expect(f, orphans == 0, f"{orphans} rows derive from no kept article of the partition")
    kept = rephrased.filter(pl.col("kept"))
    bad = kept.filter(pl.col("text").is_null() | (pl.col("reject_reasons").list.len() > 0)).height
    _expect(f, bad == 0, f"{bad} kept rows have no text or a reject reason")
    return CheckOutcome(not f, f, {"rows": rephrased.height, "kept": kept.height})


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


def check_review_sample(
    sample: pl.DataFrame, dataset: pl.DataFrame, per_stratum: int, rejected_per_stratum: int = 0
) -> CheckOutcome:
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


def check_outline_mix(mix: dict[str, dict], rows: int, tolerance_pp: float) -> CheckOutcome:
    """Each content type, audience and style is within tolerance of its configured share; a partition of N
    outlines cannot get closer than 100/N points, so that is the floor."""
    f: list[str] = []
    allowed = max(tolerance_pp, 100 / rows) if rows else 100.0
    for column, report in mix.items():
        over = {o: r["deviation_pp"] for o, r in report["options"].items() if r["deviation_pp"] > allowed}
        _expect(f, not over, f"{column}: {over} are more than {allowed:.1f} points from the configured mix")
    figures = {"allowed_deviation_pp": round(allowed, 2), **{f"max_{c}_deviation_pp": r["max_deviation_pp"] for c, r in mix.items()}}
    return CheckOutcome(not f, f, figures, severity="warn")  # an uneven mix is worth seeing, not worth stopping drafts
