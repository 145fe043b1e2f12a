"""The data contracts: one great-expectations suite per stage table, built from config, run on the
partition just written.

Read a table's contract in its function below (`seeds_expectations`, `outlines_expectations`,
`drafts_expectations`, `filtered_articles_expectations`, `balanced_dataset_expectations`). Each
expectation carries its name (GX `description`) and its severity: "critical" failures are ERROR and
stop the downstream partition; "warning" failures (WARN) show in the UI without blocking.
Values known only at run time (the upstream partition's ids, the kept-share floor) are GX suite
parameters ({"$PARAMETER": name}), given to `validate`.

Importing this module imports great_expectations (5 s or more): the Dagster layer imports it inside
the check (cosmo_assets/defs/checks.py), never at definition load; running a suite is in validation.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.row_conditions import Column

from cosmo_assets.config import TOPIC_TYPES, CosmoConfig
from cosmo_assets.storage import TABLES, frame_schema

logging.getLogger("great_expectations").setLevel(logging.WARNING)

WARNING = "warning"  # GX severity of an expectation that shows in the UI but does not block
BLANK = r"^\s*$"

# The column that names a row, so unexpected examples say which rows broke an expectation.
ROW_ID = {
    "seeds": "seed_id",
    "outlines": "outline_id",
    "drafts": "draft_id",
    "filtered_articles": "draft_id",
    "balanced_dataset": "id",
}


# --- what every table shares: columns, types and NOT NULL exactly as storage.TABLES declares -----


def table_shape(table: str) -> list[gxe.Expectation]:
    columns = TABLES[table]
    polars_types = frame_schema(table)
    shape: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(columns), exact_match=True, description=f"columns are those of the {table} table"
        )
    ]
    for column, sql_type in columns.items():
        declared = sql_type.removesuffix(" NOT NULL")
        pandas_type = pandas_type_name(polars_types[column])
        if pandas_type:
            shape.append(
                gxe.ExpectColumnValuesToBeInTypeList(
                    column=column, type_list=[pandas_type], description=f"{column} is {declared}"
                )
            )
        if sql_type.endswith("NOT NULL"):
            shape.append(gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is never null"))
    return shape


def _in_config(column: str, values: Sequence[str], where: str, **kwargs: Any) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=sorted(values), description=f"{column} is one of {where}", **kwargs
    )


def _partition_keys(config: CosmoConfig, *, with_domain: bool = True) -> list[gxe.Expectation]:
    keys = [_in_config("language", config.enabled_languages, "the enabled languages (languages.yaml)")]
    if with_domain:
        keys.insert(0, _in_config("domain", config.domain_names, "the configured domains (domains/)"))
    return keys


def _article_mix(config: CosmoConfig, **where: Any) -> list[gxe.Expectation]:
    mix = config.outlines
    return [
        _in_config("topic_type", TOPIC_TYPES, "the known topic types", **where),
        _in_config("content_type", [c.id for c in mix.content_types], "the content types in outlines.yaml", **where),
        _in_config("audience", [a.id for a in mix.audiences], "the audiences in outlines.yaml", **where),
        _in_config("style", [s.id for s in mix.styles], "the styles in outlines.yaml", **where),
    ]


def _unique(column: str, description: str | None = None, **kwargs: Any) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(column=column, description=description or f"{column} is unique", **kwargs)


def _between(column: str, low: float | None, high: float | None, description: str, **kwargs: Any) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, description=description, **kwargs
    )


def _where_status(status: str) -> dict[str, Any]:
    return {"row_condition": Column("status") == status}


def _where_source(source: str) -> dict[str, Any]:
    return {"row_condition": Column("source") == source}


# Real text has no seed, template, style, model or score; a synthetic article has every one of them.
SYNTHETIC_ONLY = ("topic_type", "style", "template_id", "template_version", "seed_id", "model", "quality_score")


# --- one suite per table ---------------------------------------------------------------------------


def seeds_expectations(config: CosmoConfig) -> list[gxe.Expectation]:
    """Entities read from the knowledge base, one partition (domain × language)."""
    return [
        *table_shape("seeds"),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, description="the partition has seeds"),
        _unique("seed_id"),
        gxe.ExpectColumnValuesToNotMatchRegex(column="title", regex=BLANK, description="title is not blank"),
        _in_config("topic_type", TOPIC_TYPES, "the known topic types"),
        *_partition_keys(config),
        # Two entities with one title are usually one entity entered twice in the knowledge base.
        _unique("title", "titles are unique", severity=WARNING),
    ]


def outlines_expectations(config: CosmoConfig) -> list[gxe.Expectation]:
    """Article plans. Parameter `seed_ids`: the ids of the partition's seeds."""
    return [
        *table_shape("outlines"),
        _unique("outline_id"),
        gxe.ExpectColumnDistinctValuesToContainSet(
            column="seed_id", value_set={"$PARAMETER": "seed_ids"}, description="every seed has an outline"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="seed_id", value_set={"$PARAMETER": "seed_ids"}, description="every outline plans a seed of the partition"
        ),
        *_article_mix(config),
        _in_config("template_id", [c.template for c in config.outlines.content_types] + [config.seeds.documents.template],
                   "the templates in outlines.yaml or seeds.yaml documents.template"),
        *_partition_keys(config),
        gxe.ExpectColumnValuesToNotMatchRegex(column="prompt", regex=BLANK, description="prompt is not blank"),
        _between("variant", 0, None, "variant is 0 or more"),
        # The same prompt twice pays the model twice for one draft.
        _unique("prompt_hash", "prompts are unique", severity=WARNING),
    ]


def drafts_expectations(config: CosmoConfig) -> list[gxe.Expectation]:
    """Model completions. Parameter `outline_ids`: the ids of the partition's outlines."""
    model = config.model
    ok, failed = _where_status("ok"), _where_status("failed")
    return [
        *table_shape("drafts"),
        _unique("draft_id"),
        _unique("outline_id", "one draft per outline"),
        gxe.ExpectColumnDistinctValuesToContainSet(
            column="outline_id", value_set={"$PARAMETER": "outline_ids"}, description="every outline has a draft"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="outline_id", value_set={"$PARAMETER": "outline_ids"}, description="every draft expands an outline of the partition"
        ),
        *_partition_keys(config),
        gxe.ExpectColumnValuesToBeInSet(column="model", value_set=[model.model], description="model is the configured model"),
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=["ok", "failed", "skipped_budget"], description="status is ok, failed or skipped_budget"
        ),
        # Drafts a budget stopped were never requested: they are not failures, and a re-run makes them.
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=["ok", "skipped_budget"], mostly=round(1 - model.max_failed_share, 6),
            description=f"at least {1 - model.max_failed_share:.0%} of requests succeed (model.yaml max_failed_share)",
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="text", description="an ok draft has text", **ok),
        gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=BLANK, description="an ok draft's text is not blank", **ok),
        gxe.ExpectColumnValuesToNotBeNull(column="error", description="a failed draft says why", **failed),
        gxe.ExpectColumnValuesToNotBeNull(
            column="error", description="a draft the budget stopped says so", **_where_status("skipped_budget")
        ),
        _between("cost_usd", 0, None, "cost_usd is 0 or more"),
        _between("prompt_tokens", 0, None, "prompt_tokens is 0 or more"),
        _between("completion_tokens", 0, None, "completion_tokens is 0 or more"),
        _between("latency_s", 0, None, "latency_s is 0 or more"),
        # Some servers report no usage; the release then falls back to word counts for token_count.
        _between("completion_tokens", 1, None, "an ok draft reports its completion tokens", severity=WARNING, **ok),
        _between(
            "completion_tokens", None, model.max_tokens * (2 if model.continue_truncated else 1),
            f"completion_tokens stay within max_tokens ({model.max_tokens}, model.yaml; twice that for a draft "
            "finished by a continuation)", severity=WARNING,
        ),
    ]


def filtered_articles_expectations(config: CosmoConfig) -> list[gxe.Expectation]:
    """Kept drafts with their scores. Parameters: `draft_ids` (the partition's drafts), `drafts`
    (how many) and `min_kept` (the fewest kept articles that meet min_kept_share of the drafts a budget did
    not skip)."""
    f = config.filters.for_model(config.model.model)  # model_overrides: a small model keeps fewer drafts
    return [
        *table_shape("filtered_articles"),
        _unique("draft_id"),
        gxe.ExpectColumnValuesToBeInSet(
            column="draft_id", value_set={"$PARAMETER": "draft_ids"}, description="every article is a draft of the partition"
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "min_kept"}, max_value={"$PARAMETER": "drafts"},
            description=f"between {f.min_kept_share:.0%} and 100% of drafts are kept (filters.yaml min_kept_share; budget-skipped drafts aside)",
        ),
        *_partition_keys(config),
        gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=BLANK, description="text is not blank"),
        _between("word_count", f.min_words, f.max_words, f"word_count is within [{f.min_words}, {f.max_words}] (filters.yaml)"),
        _between("mean_word_length", 0, None, "mean_word_length is 0 or more"),
        _between("duplicate_line_share", 0, f.max_duplicate_line_share, f"duplicate_line_share is within [0, {f.max_duplicate_line_share}]"),
        *(
            _between(f"top_{n}gram_share", 0, limit, f"top_{n}gram_share is within [0, {limit}]")
            for n, limit in sorted(f.max_top_ngram_share.items())
        ),
        *(
            _between(f"duplicate_{n}gram_share", 0, limit, f"duplicate_{n}gram_share is within [0, {limit}]")
            for n, limit in sorted(f.max_duplicate_ngram_share.items())
        ),
        _between("language_confidence", f.min_language_confidence, 1, f"language_confidence is within [{f.min_language_confidence}, 1]"),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="language_detected", column_B="language", description="the detected language is the partition's"
        ),
        _between("quality_score", 0, 1, "quality_score is within [0, 1]"),
        # Exact copies should not survive filtering; near-duplicate removal belongs to the filters.
        _unique("text", "article texts are unique", severity=WARNING),
    ]


def balanced_dataset_expectations(
    config: CosmoConfig,
    quota_targets: Mapping[str, Mapping[str, float]] | None = None,
    quota_tolerance: float = 0.05,
) -> list[gxe.Expectation]:
    """The release of one language across every domain. Quotas (target shares per column value)
    are WARN: whether the supply allowed a target is for the balancing stage to judge."""
    b = config.balance
    real_types = sorted({c.content_type for c in b.real_text.corpora} or {"real_text"})
    suite = [
        *table_shape("balanced_dataset"),
        _unique("id"),
        _unique("text", "texts are unique across domains"),
        *_partition_keys(config),
        *_article_mix(config, **_where_source("synthetic")),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c, description=f"a synthetic article has its {c}", **_where_source("synthetic"))
          for c in SYNTHETIC_ONLY),
        gxe.ExpectColumnValuesToBeInSet(
            column="content_type", value_set=real_types, description="real text has its corpus's content type (balance.yaml real_text)",
            **_where_source("real"),
        ),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=["real", "rephrased", "synthetic"],
                                        description="source is real, rephrased or synthetic"),
        _between("token_count", 1, None, "token_count is 1 or more"),
        _between("quality_score", b.min_quality_score, 1, f"quality_score is within [{b.min_quality_score}, 1] (balance.yaml min_quality_score)"),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, description="the release has articles", severity=WARNING),
    ]
    if b.max_per_language:
        suite.append(
            gxe.ExpectTableRowCountToBeBetween(
                max_value=b.max_per_language, description=f"at most {b.max_per_language} articles (balance.yaml max_per_language)"
            )
        )
    if quota_targets:
        suite += quota_expectations(quota_targets, quota_tolerance)
    return suite


def quota_expectations(targets: Mapping[str, Mapping[str, float]], tolerance: float) -> list[gxe.Expectation]:
    """For each column and value, its share of the synthetic articles stays within target ± tolerance
    (WARN; real text mixed into a release is outside the quotas).

    GX has no "share of one value" expectation, so each bound is the `mostly` of an in-set rule:
    share(value) >= target - tolerance, and share(other values) >= 1 - (target + tolerance).
    """
    synthetic = {"row_condition": Column("source") == "synthetic"}
    quotas = []
    for column, shares in targets.items():
        for value, target in shares.items():
            low, high = max(target - tolerance, 0.0), min(target + tolerance, 1.0)
            if low > 0:
                quotas.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=column, value_set=[value], mostly=round(low, 6), severity=WARNING, **synthetic,
                        description=f"quota: {column} {value} is at least {low:.0%} (target {target:.0%} ± {tolerance:.0%})",
                    )
                )
            if high < 1:
                quotas.append(
                    gxe.ExpectColumnValuesToNotBeInSet(
                        column=column, value_set=[value], mostly=round(1 - high, 6), severity=WARNING, **synthetic,
                        description=f"quota: {column} {value} is at most {high:.0%} (target {target:.0%} ± {tolerance:.0%})",
                    )
                )
    return quotas


SUITES = {
    "seeds": seeds_expectations,
    "outlines": outlines_expectations,
    "drafts": drafts_expectations,
    "filtered_articles": filtered_articles_expectations,
    "balanced_dataset": balanced_dataset_expectations,
}


def suite(table: str, config: CosmoConfig, **options: Any) -> gx.ExpectationSuite:
    expectations = SUITES[table](config, **options)
    names = [e.description for e in expectations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{table} suite: expectation names must be unique, repeated: {repeated}")
    return gx.ExpectationSuite(name=f"{table}_contract", expectations=expectations)


def pandas_type_name(dtype: pl.DataType) -> str | None:
    """The type name GX's type-list expectation matches for a column that `to_pandas` converted."""
    if dtype.is_integer():
        return f"{dtype}Dtype"  # Int32 -> pandas Int32Dtype
    if dtype == pl.Boolean:
        return "BooleanDtype"
    if dtype.is_float():
        return str(dtype).lower()  # float64
    if dtype == pl.String:
        return "str"
    if isinstance(dtype, pl.List):
        return "list"
    if isinstance(dtype, pl.Struct):
        return "dict"
    return None  # dates and others: the column set still covers them
