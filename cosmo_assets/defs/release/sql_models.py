"""One asset per SQL model in dbt_like_sql/, its dependencies read from the model's refs and sources."""

import dagster as dg

from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.release.model_hooks import MODEL_ASSETS, ModelAsset, after_any
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result
from cosmo_assets.sql_runner import SqlModel
from cosmo_assets.stages.balancing import run_model
from cosmo_assets.storage import PARTITION_COLUMNS

# A table's rows come from the asset of the same name, except these.
TABLE_WRITERS = {"rejected_drafts": "filtered_articles"}
# A generate run writes filtered_articles, then rephrased_articles. A release model that reads the first
# also waits for the second: automation then makes one release after a domain's run, not one between
# its last two steps (a release of half-updated inputs, then another).
GENERATION_LAST = "rephrased_articles"


def _deps_of(model: SqlModel, known: set[str], every_domain) -> list[dg.AssetDep]:
    deps = {ref: dg.AssetDep(ref) for ref in model.refs}
    for table in model.sources:
        writer = TABLE_WRITERS.get(table, table)
        if writer in known and writer not in deps:
            mapping = every_domain if PARTITION_COLUMNS.get(table) == ("domain", "language") else None
            deps[writer] = dg.AssetDep(writer, partition_mapping=mapping)
    if "filtered_articles" in deps and GENERATION_LAST in known and GENERATION_LAST not in deps:
        deps[GENERATION_LAST] = dg.AssetDep(GENERATION_LAST)
    return list(deps.values())


def build(model: SqlModel, project, partitions: dg.PartitionsDefinition, known: set[str], every_domain) -> dg.AssetsDefinition:
    extra = MODEL_ASSETS.get(model.name) or ModelAsset(f"{model.name}_contract", "Unique ids.", after_any)

    @asset(model.name, partitions, kinds={"duckdb", "sql"}, deps=_deps_of(model, known, every_domain),
           checks={extra.check: extra.check_description}, group=extra.group, eager=True,
           description=model.description or f"The SQL model {model.path.name}.")
    def _model(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        part = partition_of(context)
        prepared = extra.before(cosmo, part) if extra.before else {}
        frame = run_model(cosmo.storage, cosmo.config, model.name, part["language"], project)
        if extra.transform:
            frame = extra.transform(cosmo, frame)
        cosmo.storage.replace_partition(model.name, frame, part)
        metadata, outcome = extra.after(context, cosmo, frame, part)
        return dg.MaterializeResult(
            metadata={"rows": frame.height, "sql": dg.MetadataValue.path(str(model.path)), **prepared, **metadata},
            check_results=[check_result(extra.check, outcome)],
        )

    return _model
