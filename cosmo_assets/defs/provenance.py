"""Provenance: every stage materialisation records what it was made from (the `recorded` decorator).

Recorded with each materialisation:
- `input_digests`: the stage's input fingerprint part by part (cosmo_assets/fingerprints.py), and
  `inputs`, the same as a table that names each file;
- `upstream_versions`: the data version of every upstream partition the step read;
- the data version: a digest of the rows the partition holds, so a partition re-made with the same
  rows keeps its version and what reads it stays fresh (Dagster's own stale status follows it too);
- `dagster/row_count` and, for article stages, a Markdown preview of sample articles.
The nightly schedule, the input-change sensor, the `inputs_current` checks and the `stale` command read
it back through stage_graph.py; the verdicts come from cosmo_assets/verdicts.py, which knows nothing of Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import dagster as dg

from cosmo_assets.defs.partitions import partition_dict, partitions_of
from cosmo_assets.defs.stage_graph import data_version_of, latest_materialisation, stage_parents
from cosmo_assets.fingerprints import STAGE_TABLES, Fingerprint, drawn_templates_only, fingerprint
from cosmo_assets.ids import content_hash
from cosmo_assets.interruption import Interrupted, stop_requested
from cosmo_assets.previews import sample_articles
from cosmo_assets.verdicts import partition_key, upstream_partitions


def _stopped(context: dg.AssetExecutionContext, why: str) -> dg.DagsterExecutionInterruptedError:
    """The user's stop, said to Dagster before the step ends: the run then ends CANCELED, not FAILURE,
    whichever thread (this step or the main command's) gets there first."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and not run.is_finished and run.status != dg.DagsterRunStatus.CANCELING:
        context.instance.report_run_canceling(run, "stop asked for on the main command (Ctrl+C or SIGTERM)")
    return dg.DagsterExecutionInterruptedError(why)


def recorded(stage: str) -> Callable:
    """Wraps a stage asset's function so its materialisation records its inputs, upstream versions,
    data version, row count and sample articles. The function itself stays as it is."""

    def decorate(fn: Callable[..., dg.MaterializeResult]) -> Callable[..., dg.MaterializeResult]:
        @functools.wraps(fn)
        def materialise(context: dg.AssetExecutionContext, **resources):
            cosmo = resources["cosmo"]
            if stop_requested():  # Ctrl+C on the main command: no new stage starts
                raise _stopped(context, f"{stage}: not started, a stop was asked for")
            partition = partition_dict(context.partition_key)
            # Taken before the work: if an input changes mid-run, the partition reads stale, never fresh.
            inputs = fingerprint(cosmo.config, stage, partition, cosmo.seed_limit())
            upstream = _upstream_versions(context, partition)
            try:
                result = fn(context, **resources)
            except Interrupted as exc:  # the run is marked canceled, not failed
                raise _stopped(context, f"{stage}: {exc}") from None
            if stage == "outlines":
                inputs = _as_drawn(cosmo, inputs, partition)
            rows, version = _content_version(cosmo.storage, stage, partition, inputs, upstream)
            metadata = {**(result.metadata or {}), **provenance_metadata(inputs, upstream)}
            if rows is not None:
                metadata.setdefault("dagster/row_count", rows)
            samples = sample_articles(cosmo.storage, stage, partition)
            if samples is not None:
                metadata["sample_articles"] = dg.MetadataValue.md(samples)
            return result._replace(metadata=metadata, data_version=result.data_version or dg.DataVersion(version))

        return materialise

    return decorate


def provenance_metadata(inputs: Fingerprint, upstream: Mapping[str, str]) -> dict[str, dg.MetadataValue]:
    table = "| input | from | digest |\n|---|---|---|\n" + "\n".join(
        f"| {p.name} | {p.source} | `{p.digest}` |" for p in inputs.parts
    )
    return {
        "input_fingerprint": dg.MetadataValue.text(inputs.digest),
        "inputs": dg.MetadataValue.md(table),
        "input_digests": dg.MetadataValue.json(inputs.digests()),
        "upstream_versions": dg.MetadataValue.json(dict(upstream)),
    }


def _as_drawn(cosmo, inputs: Fingerprint, partition: Mapping[str, str]) -> Fingerprint:
    rows = cosmo.storage.query(
        "SELECT DISTINCT template_id FROM outlines WHERE domain = $domain AND language = $language",
        dict(partition), table="outlines",
    )
    settings = cosmo.config.outlines.model_outlines
    return drawn_templates_only(inputs, set(rows["template_id"].to_list()), {settings.template} if settings.enabled else set())


def _upstream_versions(context: dg.AssetExecutionContext, partition: Mapping[str, str]) -> dict[str, str]:
    graph = context.job_def.asset_layer.asset_graph
    versions: dict[str, str] = {}
    for parent in stage_parents(graph, context.asset_key.to_user_string()):
        for upstream in upstream_partitions(partition, partitions_of(graph.get(dg.AssetKey(parent)).partitions_def)):
            record = latest_materialisation(context.instance, parent, upstream)
            if record is not None:
                versions[f"{parent}/{partition_key(upstream)}"] = data_version_of(record) or ""
    return versions


def _content_version(storage, stage: str, partition: Mapping[str, str], inputs: Fingerprint, upstream) -> tuple[int | None, str]:
    tables = STAGE_TABLES[stage]
    if not tables:  # output lives outside DuckDB: its version is what it was made from
        return None, content_hash(inputs.digest, sorted(upstream.items()), length=32)
    counted = [storage.partition_digest(t, partition) for t in tables]
    return counted[0][0], content_hash([d for _, d in counted], length=32)
