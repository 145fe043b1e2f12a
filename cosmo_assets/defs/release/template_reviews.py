"""Template reviews: reviewers' verdicts read in, accept rates per template, templates left out."""

import dagster as dg
import polars as pl

from cosmo_assets import contracts
from cosmo_assets.defs.declare import REVIEW_GROUP, asset
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, preview
from cosmo_assets.stages import review


def build() -> dg.AssetsDefinition:
    @asset("template_reviews", None, kinds={"duckdb", "csv"}, deps=["review_sample"],
           checks={"template_accept_rates": "Warns when a template falls under the accept rate and is left out of the next run."},
           group=REVIEW_GROUP)
    def template_reviews(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Reviewers' verdicts (balance.yaml review.verdict_files) read in; accept rate per template version;
        the templates under review.min_accept_rate, which the outlines stage leaves out from the next run; and
        per reject reason, the rejected drafts reviewers accepted (table reject_reason_reviews)."""
        reviews = review.review_templates(cosmo.config, cosmo.storage)
        cosmo.storage.replace_partition("review_verdicts", reviews.verdicts, {})
        cosmo.storage.replace_partition("template_reviews", reviews.templates, {})
        cosmo.storage.replace_partition("reject_reason_reviews", reviews.reasons, {})
        excluded = reviews.templates.filter(pl.col("excluded"))
        stale = {t: list(p) for t, p in excluded.select("template_id", "fed_partitions").iter_rows()}
        settings = cosmo.config.balance.review
        return dg.MaterializeResult(
            metadata={
                "verdict_files": dg.MetadataValue.json([str(p) for p in cosmo.config.verdict_files()]),
                "verdicts": reviews.verdicts.height,
                "accept_rates": preview(
                    reviews.templates.with_columns(pl.col("fed_partitions").list.join(", ")),
                    list(reviews.templates.columns), rows=50,
                ),
                "excluded_templates": dg.MetadataValue.json(sorted(stale)),
                "stale_partitions": dg.MetadataValue.json(stale),
                # rejected drafts reviewers accepted, per reject reason: a reason that rejects good drafts shows here
                "false_rejections": preview(reviews.reasons, list(reviews.reasons.columns), rows=50),
            },
            check_results=[check_result("template_accept_rates", contracts.check_accept_rates(
                reviews.templates, settings.min_accept_rate, settings.min_reviews))],
        )

    return template_reviews
