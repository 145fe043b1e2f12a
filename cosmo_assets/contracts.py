"""What each stage's output must satisfy, checked on the partition just written (no Dagster here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cosmo_assets.config import TOPIC_TYPES, CosmoConfig


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


def check_seeds(seeds: pl.DataFrame) -> CheckOutcome:
    f: list[str] = []
    _expect(f, seeds.height > 0, "the partition has no seeds")
    dup = _unique(seeds, "seed_id")
    _expect(f, dup == 0, f"{dup} rows share a seed_id")
    blank = seeds.filter(pl.col("title").fill_null("").str.strip_chars() == "").height
    _expect(f, blank == 0, f"{blank} seeds have no title")
    bad_types = sorted(set(seeds["topic_type"].to_list()) - set(TOPIC_TYPES))
    _expect(f, not bad_types, f"unknown topic types {bad_types}")
    return CheckOutcome(not f, f, {"rows": seeds.height, "duplicate_ids": dup, "blank_titles": blank})


def check_outlines(outlines: pl.DataFrame, seeds: pl.DataFrame, config: CosmoConfig) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(outlines, "outline_id")
    _expect(f, dup == 0, f"{dup} rows share an outline_id")
    unplanned = seeds.join(outlines, on="seed_id", how="anti").height
    _expect(f, unplanned == 0, f"{unplanned} seeds have no outline")
    empty = outlines.filter(pl.col("prompt").str.strip_chars() == "").height
    _expect(f, empty == 0, f"{empty} outlines have an empty prompt")
    allowed = {
        "content_type": {c.id for c in config.outlines.content_types},
        "audience": {a.id for a in config.outlines.audiences},
        "style": {s.id for s in config.outlines.styles},
    }
    for column, values in allowed.items():
        unknown = sorted(set(outlines[column].to_list()) - values)
        _expect(f, not unknown, f"{column} values {unknown} are not configured")
    return CheckOutcome(not f, f, {"rows": outlines.height, "seeds_without_outline": unplanned})


def check_drafts(drafts: pl.DataFrame, outlines: pl.DataFrame, max_failed_share: float) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(drafts, "draft_id")
    _expect(f, dup == 0, f"{dup} rows share a draft_id")
    missing = outlines.join(drafts, on="outline_id", how="anti").height
    _expect(f, missing == 0, f"{missing} outlines have no draft")
    # Drafts a budget stopped are not failures: they were never requested, and a re-run makes them.
    skipped = drafts.filter(pl.col("status") == "skipped_budget").height
    unknown = sorted(set(drafts["status"].to_list()) - {"ok", "failed", "skipped_budget"})
    _expect(f, not unknown, f"unknown draft statuses {unknown}")
    failed = drafts.filter(pl.col("status") == "failed").height
    requested = drafts.height - skipped
    share = failed / requested if requested else 0.0
    _expect(f, share <= max_failed_share, f"{share:.1%} of requests failed (limit {max_failed_share:.0%})")
    unexplained = drafts.filter((pl.col("status") != "ok") & pl.col("error").is_null()).height
    _expect(f, unexplained == 0, f"{unexplained} drafts were not generated and say no reason")
    negative = drafts.filter(pl.col("cost_usd") < 0).height
    _expect(f, negative == 0, f"{negative} drafts have a negative cost")
    return CheckOutcome(
        not f, f,
        {"rows": drafts.height, "failed": failed, "failed_share": round(share, 4), "skipped_budget": skipped},
    )


def check_filtered(
    kept: pl.DataFrame, rejected: pl.DataFrame, drafts: pl.DataFrame, min_kept_share: float
) -> CheckOutcome:
    f: list[str] = []
    decided = pl.concat([kept.select("draft_id"), rejected.select("draft_id")])
    _expect(f, decided.height == drafts.height, f"{decided.height} decisions for {drafts.height} drafts")
    _expect(f, _unique(decided, "draft_id") == 0, "a draft is both kept and rejected")
    vanished = drafts.join(decided, on="draft_id", how="anti").height
    _expect(f, vanished == 0, f"{vanished} drafts are neither kept nor rejected")
    out_of_range = kept.filter((pl.col("quality_score") < 0) | (pl.col("quality_score") > 1)).height
    _expect(f, out_of_range == 0, f"{out_of_range} quality scores outside [0, 1]")
    share = kept.height / drafts.height if drafts.height else 0.0
    _expect(f, share >= min_kept_share, f"kept {share:.1%} of drafts (minimum {min_kept_share:.0%})")
    return CheckOutcome(not f, f, {"kept": kept.height, "rejected": rejected.height, "kept_share": round(share, 4)})


def check_balanced(dataset: pl.DataFrame, max_per_seed: int) -> CheckOutcome:
    f: list[str] = []
    dup = _unique(dataset, "id")
    _expect(f, dup == 0, f"{dup} rows share an id")
    required = ["text", "domain", "language", "title", "topic_type", "content_type", "audience", "style", "model"]
    nulls = {c: int(dataset[c].null_count()) for c in required if dataset[c].null_count()}
    _expect(f, not nulls, f"metadata missing: {nulls}")
    over = dataset.group_by("seed_id").len().filter(pl.col("len") > max_per_seed).height if dataset.height else 0
    _expect(f, over == 0, f"{over} seeds exceed max_per_seed={max_per_seed}")
    return CheckOutcome(not f, f, {"rows": dataset.height, "duplicate_ids": dup, "seeds_over_cap": over})


def check_export(exported: pl.DataFrame, dataset: pl.DataFrame) -> CheckOutcome:
    f: list[str] = []
    _expect(f, exported.height == dataset.height, f"export has {exported.height} rows, dataset {dataset.height}")
    if exported.height and dataset.height:
        differ = set(exported["id"].to_list()) ^ set(dataset["id"].to_list())
        _expect(f, not differ, f"{len(differ)} ids differ between export and dataset")
    missing_cols = [c for c in dataset.columns if c not in exported.columns]
    _expect(f, not missing_cols, f"export lacks columns {missing_cols}")
    return CheckOutcome(not f, f, {"exported_rows": exported.height, "dataset_rows": dataset.height})
