"""One asset per SQL model in dbt_like_sql/, its dependencies read from the model's refs and sources."""

import dagster as dg

from cosmo_assets.defs.metadata import stage_metadata
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.provenance import recorded
from cosmo_assets.defs.release.model_hooks import MODEL_ASSETS, ModelAsset, after_any
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import OWNERS, check_result, check_spec
from cosmo_assets.fingerprints import PER_LANGUAGE_STAGES, code_version
from cosmo_assets.sql_runner import SqlModel
from cosmo_assets.stages.balancing import run_model
from cosmo_assets.storage import PARTITION_COLUMNS

# A table's rows come from the asset of the same name, except these.
TABLE_WRITERS = {"rejected_drafts": "filtered_articles"}


def staleness_args(stage: str) -> dict:
    """Stages whose freshness is judged (fingerprints.PER_LANGUAGE_STAGES) carry a code version and
    record their inputs; the other release models are rebuilt with them by the release job."""
    if stage not in PER_LANGUAGE_STAGES:
        return {}
    return {"code_version": code_version(stage), "metadata": stage_metadata(stage)}


def recorded_if_tracked(stage: str):
    return recorded(stage) if stage in PER_LANGUAGE_STAGES else (lambda fn: fn)


def _deps_of(model: SqlModel, known: set[str], every_domain) -> list[dg.AssetDep]:
    deps = {ref: dg.AssetDep(ref) for ref in model.refs}
    for table in model.sources:
        writer = TABLE_WRITERS.get(table, table)
        if writer in known and writer not in deps:
            mapping = every_domain if PARTITION_COLUMNS.get(table) == ("domain", "language") else None
            deps[writer] = dg.AssetDep(writer, partition_mapping=mapping)
    return list(deps.values())


def build(model: SqlModel, project, partitions: dg.PartitionsDefinition, known: set[str], every_domain) -> dg.AssetsDefinition:
    extra = MODEL_ASSETS.get(model.name) or ModelAsset(f"{model.name}_contract", "Unique ids.", after_any)

    @dg.asset(
        name=model.name,
        description=model.description or f"The SQL model {model.path.name}.",
        partitions_def=partitions,
        deps=_deps_of(model, known, every_domain),
        group_name=extra.group,
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[check_spec(model.name, extra.check, extra.check_description, partitions)],
        **staleness_args(model.name),
    )
    @recorded_if_tracked(model.name)
    def _model(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        part = partition_of(context)
        prepared = extra.before(cosmo, part) if extra.before else {}
        frame = run_model(cosmo.storage, cosmo.config, model.name, part["language"], project)
        cosmo.storage.replace_partition(model.name, frame, part)
        metadata, outcome = extra.after(context, cosmo, frame, part)
        return dg.MaterializeResult(
            metadata={"rows": frame.height, "sql": dg.MetadataValue.path(str(model.path)), **prepared, **metadata},
            check_results=[outcome if isinstance(outcome, dg.AssetCheckResult) else check_result(extra.check, outcome)],
        )

    return _model
