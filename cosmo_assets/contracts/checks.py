"""Checks of release tables, the export and the outline mix: polars rules, each giving an Outcome whose
expectations say their failures in words (no GX here)."""

from __future__ import annotations

import polars as pl

from cosmo_assets.contracts.outcomes import Outcome, expect


def _unique(frame: pl.DataFrame, column: str) -> int:
    """Number of rows whose `column` value appears more than once."""
    return int(frame[column].is_duplicated().sum()) if frame.height else 0


def unique_ids(frame: pl.DataFrame) -> Outcome:
    """Every row's id is its own (the check of a SQL model with no check of its own)."""
    dup = _unique(frame, "id") if "id" in frame.columns else 0
    return Outcome([expect("ids are unique", dup == 0, f"{dup} rows share an id", dup)], rows=frame.height)


def check_candidates(candidates: pl.DataFrame) -> Outcome:
    dup = _unique(candidates, "id")
    same_text = _unique(candidates, "text_key")
    return Outcome([
        expect("ids are unique", dup == 0, f"{dup} rows share an id", dup),
        expect("texts are unique", same_text == 0, f"{same_text} candidates share a text", same_text),
    ], {"duplicate_texts": same_text}, rows=candidates.height)


def check_allocation(allocation: pl.DataFrame, candidates: pl.DataFrame, planned_size: int) -> Outcome:
    twice = _unique(allocation, "id")
    undecided = candidates.join(allocation, on="id", how="anti").height
    selected = allocation.filter(pl.col("selected")).height
    return Outcome([
        expect("each candidate is decided once", twice == 0, "a candidate is decided twice", twice),
        expect("every candidate is decided", undecided == 0, f"{undecided} candidates have no decision", undecided),
        expect("as many selected as planned", selected == planned_size,
               f"{selected} candidates selected, the plan says {planned_size}", selected),
    ], {"candidates": candidates.height, "selected": selected})


def check_real_text(real_text: pl.DataFrame) -> Outcome:
    dup = _unique(real_text, "id")
    blank = real_text.filter(pl.col("text").str.strip_chars() == "").height
    return Outcome([
        expect("ids are unique", dup == 0, f"{dup} rows share an id", dup),
        expect("no text is empty", blank == 0, f"{blank} texts are empty", blank),
    ], rows=real_text.height)


def check_rephrased(rephrased: pl.DataFrame, sources: pl.DataFrame) -> Outcome:
    """Rephrased articles: unique ids; each names a source its partition read (`sources`: source_kind and
    derived_from: kept articles, real texts, document seeds); kept ones have text and no reason."""
    dup = _unique(rephrased, "rephrase_id")
    orphans = rephrased.join(sources, on=["source_kind", "derived_from"], how="anti").height
    kept = rephrased.filter(pl.col("kept"))
    bad = kept.filter(pl.col("text").is_null() | (pl.col("reject_reasons").list.len() > 0)).height
    return Outcome([
        expect("rephrase ids are unique", dup == 0, f"{dup} rows share a rephrase_id", dup),
        expect("each derives from a source of the partition", orphans == 0,
               f"{orphans} rows derive from no kept article, real text or document of the partition", orphans),
        expect("kept rows have text and no reason", bad == 0, f"{bad} kept rows have no text or a reject reason", bad),
    ], {"kept": kept.height}, rows=rephrased.height)


def check_quotas(report: pl.DataFrame) -> Outcome:
    """Fails on a target missed by more than the tolerance while the supply would have allowed it
    (status `missed`); targets relaxed to the supply, and values with no supply, pass and are listed."""
    def describe(r: dict) -> str:
        kind = "minimum share" if r["kind"] == "floor" else "target"
        return (f"{r['dimension']}={r['value']}: {kind} {r['target']:.3f}, achieved {r['achieved']:.3f} "
                f"({r['released']} released, supply {r['supply']}): {r['note']}")

    targets = [
        expect(f"{r['dimension']}={r['value']} {r['kind']} met", r["status"] != "missed", describe(r), r["status"])
        for r in report.iter_rows(named=True)
    ]
    relaxed = [describe(r) for r in report.filter(pl.col("status") == "relaxed").iter_rows(named=True)]
    no_supply = [describe(r) for r in report.filter(pl.col("status") == "no supply").iter_rows(named=True)]
    status = dict(report.group_by("status").len().sort("status").iter_rows()) if report.height else {}
    return Outcome(targets, {"targets": report.height, "by_status": status, "relaxed": relaxed, "no_supply": no_supply})


def check_review_sample(
    sample: pl.DataFrame, dataset: pl.DataFrame, per_stratum: int, rejected_per_stratum: int = 0
) -> Outcome:
    dup = _unique(sample, "id")
    kind = pl.col("kind") if "kind" in sample.columns else pl.lit("released")
    released, rejected = sample.filter(kind == "released"), sample.filter(kind == "rejected")
    strangers = released.join(dataset, on="id", how="anti").height
    leaked = rejected.join(dataset, on="id", how="semi").height
    strata = ["domain", "content_type", "template_id"]
    expected = (
        dataset.filter(pl.col("source") == "synthetic").group_by(strata).len()
        .with_columns(expected=pl.min_horizontal("len", pl.lit(per_stratum)))
    )
    got = released.group_by(strata).agg(sampled=pl.len())
    short = expected.join(got, on=strata, how="left").filter(pl.col("sampled").fill_null(0) != pl.col("expected")).height
    over = rejected.group_by(strata).len().filter(pl.col("len") > rejected_per_stratum).height
    return Outcome([
        expect("ids are unique", dup == 0, f"{dup} rows share an id", dup),
        expect("sampled articles are released", strangers == 0, f"{strangers} sampled ids are not in the release", strangers),
        expect("sampled rejected drafts are not released", leaked == 0,
               f"{leaked} rejected drafts sampled are in the release", leaked),
        expect("every stratum sampled as configured", short == 0,
               f"{short} strata (domain x content type x template) are not sampled as configured", short),
        expect(f"at most {rejected_per_stratum} rejected drafts per stratum", over == 0,
               f"{over} strata have more than {rejected_per_stratum} rejected drafts", over),
    ], {"strata": expected.height, "rejected": rejected.height}, rows=sample.height)


def check_export(exported: pl.DataFrame, dataset: pl.DataFrame) -> Outcome:
    results = [expect("the export has the dataset's rows", exported.height == dataset.height,
                      f"export has {exported.height} rows, dataset {dataset.height}", exported.height)]
    if exported.height and dataset.height:
        differ = set(exported["id"].to_list()) ^ set(dataset["id"].to_list())
        results.append(expect("the export has the dataset's ids", not differ,
                              f"{len(differ)} ids differ between export and dataset", len(differ)))
    missing_cols = [c for c in dataset.columns if c not in exported.columns]
    results.append(expect("the export has the dataset's columns", not missing_cols,
                          f"export lacks columns {missing_cols}", missing_cols))
    return Outcome(results, {"exported_rows": exported.height, "dataset_rows": dataset.height})


def check_outline_mix(mix: dict[str, dict], rows: int, tolerance_pp: float) -> Outcome:
    """Each content type, audience and style is within tolerance of its configured share; a partition of N
    outlines cannot get closer than 100/N points, so that is the floor. An uneven mix is worth seeing, not
    worth stopping drafts: its expectations are warnings."""
    allowed = max(tolerance_pp, 100 / rows) if rows else 100.0
    results = []
    for column, report in mix.items():
        over = {o: r["deviation_pp"] for o, r in report["options"].items() if r["deviation_pp"] > allowed}
        results.append(expect(f"{column} within {allowed:.1f} points of the configured mix", not over,
                              f"{column}: {over} are more than {allowed:.1f} points from the configured mix",
                              report["max_deviation_pp"], severity="warn"))
    figures = {"allowed_deviation_pp": round(allowed, 2), **{f"max_{c}_deviation_pp": r["max_deviation_pp"] for c, r in mix.items()}}
    return Outcome(results, figures)


def check_accept_rates(templates: pl.DataFrame, min_accept_rate: float, min_reviews: int) -> Outcome:
    """Warns for each template whose current version reviewers accepted too rarely: the outlines stage
    leaves it out of the next run, and the partitions it fed are stale."""
    results = [
        expect(f"{t} {v} accepted at least {min_accept_rate:.0%} once reviewed {min_reviews} times", not excluded,
               f"{t} accepted {rate:.0%} of {n} (minimum {min_accept_rate:.0%}): left out of the next run; "
               f"stale partitions {list(fed)}", rate, severity="warn")
        for t, v, rate, n, excluded, fed in templates.filter(pl.col("current")).select(
            "template_id", "template_version", "accept_rate", "reviewed", "excluded", "fed_partitions").iter_rows()
    ]
    excluded = sorted(templates.filter(pl.col("excluded"))["template_id"].to_list())
    return Outcome(results, {"excluded_templates": excluded},
                   passed_description="every reviewed template is above the accept rate")
