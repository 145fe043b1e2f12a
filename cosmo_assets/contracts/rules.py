"""Rules that span tables or rows, which great-expectations does not express on one frame; each gives one
ExpectationResult that the table's contract adds to its suite's (no GX here)."""

from __future__ import annotations

import math

import polars as pl

from cosmo_assets.contracts.outcomes import EXAMPLES, ExpectationResult


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


def min_kept_articles(drafts: int, min_kept_share: float) -> int:
    """The fewest kept articles that meet filters.yaml min_kept_share for a partition of `drafts`."""
    return math.ceil(round(drafts * min_kept_share, 9))
