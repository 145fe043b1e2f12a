"""What each SQL model's asset adds to the rows it writes: work before its SQL, its check, and metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import RELEASE_GROUP, REVIEW_GROUP
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import counts, preview, run_contract
from cosmo_assets.defs.stage_graph import latest_materialisation
from cosmo_assets.llm.tokens import token_unit
from cosmo_assets.stages import review
from cosmo_assets.stages.quota_report import configured_values, quota_report, report_markdown

# A hook returns the asset's metadata and its check's outcome (a polars rule's or a GX contract's).
Hook = Callable[
    [dg.AssetExecutionContext, CosmoResource, pl.DataFrame, dict[str, str]],
    tuple[dict, contracts.Outcome],
]


@dataclass(frozen=True)
class ModelAsset:
    """What a model's asset adds to the rows it writes: its check, and metadata for the UI."""

    check: str
    check_description: str
    after: Hook
    group: str = RELEASE_GROUP
    before: Callable[[CosmoResource, dict[str, str]], dict] | None = None  # runs before the model's SQL
    transform: Callable[[CosmoResource, pl.DataFrame], pl.DataFrame] | None = None  # the rows, before they are stored


def _before_candidates(cosmo, part):
    # Near duplicates across domains, checked against the persisted MinHash index; the SQL leaves them out.
    from cosmo_assets.stages import filtering  # numba and kin: in the step, not the code server

    drops = filtering.release_duplicates(cosmo.storage, cosmo.config.filters, part["language"])
    cosmo.storage.replace_partition("near_duplicate_drops", drops, part)
    return {"near_duplicates_dropped": drops.height}


def _in_token_unit(cosmo, frame):
    # One unit for every row of a release (llm/tokens.py): the configured model's tokenizer or the word estimate.
    unit = token_unit(cosmo.config.model.model)
    return frame.with_columns(token_count=pl.Series(unit.count_all(frame["text"].to_list()), dtype=pl.Int32))


def _rephrased_in_token_unit(cosmo, frame):
    # Rephrased rows come with the model's completion count: recounted in the release's one unit.
    unit = token_unit(cosmo.config.model.model)
    rephrased = frame["source"] == "rephrased"
    if not rephrased.any():
        return frame
    counted = unit.count_all(frame.filter(rephrased)["text"].to_list())
    return frame.with_columns(token_count=frame["token_count"].scatter(rephrased.arg_true(), pl.Series(counted, dtype=pl.Int32)))


def _after_candidates(context, cosmo, frame, part):
    return {"by_domain": counts(frame, "domain")}, contracts.check_candidates(frame)


def _after_balanced(context, cosmo, frame, part):
    metadata = {
        "tokens": int(frame["token_count"].sum() or 0),
        "real": frame.filter(pl.col("source") == "real").height,
        "by_domain": counts(frame, "domain"),
        "by_content_type": counts(frame, "content_type"),
        "preview": preview(frame, ["source", "domain", "title", "content_type", "text"]),
    }
    # The great-expectations suite of the table (cosmo_assets/contracts/suites.py), caps per seed and template included.
    return metadata, run_contract("balanced_dataset", frame, cosmo)


def allocation_shortfall(instance: dg.DagsterInstance, part) -> float:
    """Articles short of every target at once in the partition's latest quota allocation (0: all held)."""
    record = latest_materialisation(instance, "quota_allocation", part)
    if record is None:
        return 0.0
    value = record.asset_materialization.metadata.get("shortfall")
    return float(value.value) if value is not None else 0.0


def _after_composition(context, cosmo, frame, part):
    balance = cosmo.config.balance
    report = quota_report(frame, balance.quotas, balance.real_text.share, configured_values(cosmo.config),
                          allocation_shortfall(context.instance, part) > 0)
    metadata = {
        "achieved_vs_target": dg.MetadataValue.md(report_markdown(report)),
        "quotas": dg.MetadataValue.json(report.to_dicts()),
        "tolerance": balance.quotas.tolerance,
    }
    return metadata, contracts.check_quotas(report)


def _after_review_sample(context, cosmo, frame, part):
    path = review.write_review_sample(frame, cosmo.config.review_sample_path(part["language"]))
    added = cosmo.storage.insert_missing("review_sample_history", frame.select(review.HISTORY_COLUMNS), key="id")
    released = cosmo.storage.read_partition("balanced_dataset", part)
    settings = cosmo.config.balance.review
    metadata = {
        "csv": dg.MetadataValue.path(str(path)),
        "newly_sampled": added,
        "by_kind": counts(frame, "kind"),
        "verdict_files": settings.verdict_files,
        "by_template": counts(frame, "template_id"),
    }
    outcome = contracts.check_review_sample(frame, released, settings.per_stratum, settings.rejected_per_stratum)
    return metadata, outcome


def after_any(context, cosmo, frame, part):
    return {}, contracts.unique_ids(frame)


MODEL_ASSETS = {
    "release_candidates": ModelAsset(
        "candidates_contract", "Unique ids; exact and near duplicates across domains removed.", _after_candidates,
        before=_before_candidates, transform=_in_token_unit),
    "balanced_dataset": ModelAsset(
        "balanced_contract",
        "GX suite (cosmo_assets/contracts/suites.py): schema, unique ids and texts, known mix values, full metadata on "
        "synthetic articles (real text has no seed, template or model), caps per seed and per template.",
        _after_balanced, transform=_rephrased_in_token_unit),
    "balance_composition": ModelAsset(
        "quota_targets",
        "Every target share met within tolerance, unless the supply could not meet it (relaxed, reported) "
        "or a configured value has no candidates (no supply, reported).",
        _after_composition),
    "review_sample": ModelAsset(
        "review_sample_contract",
        "Every domain x content type x template stratum sampled as configured: released articles from the release, "
        "rejected drafts at most review.rejected_per_stratum.",
        _after_review_sample, REVIEW_GROUP),
}
