"""Staleness in Dagster: every materialisation records what it was made from, and the nightly schedule,
the input-change sensor, the `inputs_current` checks and the `stale` command read it back.

Recorded with each materialisation (by the `recorded` decorator on every stage asset):
- `input_digests`: the stage's input fingerprint part by part (cosmo_assets/fingerprints.py), and
  `inputs`, the same as a table that names each file;
- `upstream_versions`: the data version of every upstream partition the step read;
- the data version: a digest of the rows the partition holds, so a partition re-made with the same
  rows keeps its version and what reads it stays fresh (Dagster's own stale status follows it too);
- `dagster/row_count` and, for article stages, a Markdown preview of sample articles.
The verdicts themselves come from cosmo_assets/staleness.py, which knows nothing of Dagster.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from cosmo_assets.config import ConfigError, CosmoConfig, load_config
from cosmo_assets.fingerprints import PER_DOMAIN_STAGES, PER_LANGUAGE_STAGES, STAGE_TABLES, STAGES, Fingerprint, fingerprint
from cosmo_assets.ids import content_hash
from cosmo_assets.previews import sample_articles
from cosmo_assets.staleness import FRESH, MISSING, STALE, Made, Refresh, Verdict, assess, partition_key, refreshes, upstream_partitions

INPUTS_CHECK = "inputs_current"
TRIGGER_TAG = "cosmo/trigger"
_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _partition_dict(key: str | dg.MultiPartitionKey) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    if "|" in key:  # a multi-partition key read back from storage as a plain string
        domain, language = key.split("|")
        return {"domain": domain, "language": language}
    return {"language": key}


def _partitions_of(partitions_def: dg.PartitionsDefinition | None) -> list[dict[str, str]]:
    if partitions_def is None:
        return []
    return [_partition_dict(k) for k in partitions_def.get_partition_keys()]


def _dagster_key(partition: Mapping[str, str]) -> str | dg.MultiPartitionKey:
    return dg.MultiPartitionKey(dict(partition)) if len(partition) > 1 else partition["language"]


# --- what each materialisation records ---------------------------------------------------------


def recorded(stage: str) -> Callable:
    """Wraps a stage asset's function so its materialisation records its inputs, upstream versions,
    data version, row count and sample articles. The function itself stays as it is."""

    def decorate(fn: Callable[..., dg.MaterializeResult]) -> Callable[..., dg.MaterializeResult]:
        @functools.wraps(fn)
        def materialise(context: dg.AssetExecutionContext, **resources):
            cosmo = resources["cosmo"]
            partition = _partition_dict(context.partition_key)
            # Taken before the work: if an input changes mid-run, the partition reads stale, never fresh.
            inputs = fingerprint(cosmo.config, stage, partition, cosmo.seed_limit())
            upstream = _upstream_versions(context, partition)
            result = fn(context, **resources)
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


def stage_parents(asset_graph, asset: str) -> tuple[str, ...]:
    """The nearest stages above `asset`. Release models between two stages (release_candidates,
    quota_allocation, ...) are looked through: staleness is judged, and recorded, stage to stage."""
    found: set[str] = set()
    pending = [p.to_user_string() for p in asset_graph.get(dg.AssetKey(asset)).parent_keys]
    seen: set[str] = set()
    while pending:
        parent = pending.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if parent in STAGES:
            found.add(parent)
        else:
            pending.extend(p.to_user_string() for p in asset_graph.get(dg.AssetKey(parent)).parent_keys)
    return tuple(sorted(found))


def _upstream_versions(context: dg.AssetExecutionContext, partition: Mapping[str, str]) -> dict[str, str]:
    graph = context.job_def.asset_layer.asset_graph
    versions: dict[str, str] = {}
    for parent in stage_parents(graph, context.asset_key.to_user_string()):
        for upstream in upstream_partitions(partition, _partitions_of(graph.get(dg.AssetKey(parent)).partitions_def)):
            record = _latest_materialisation(context.instance, parent, upstream)
            if record is not None:
                versions[f"{parent}/{partition_key(upstream)}"] = _data_version_of(record) or ""
    return versions


def _content_version(storage, stage: str, partition: Mapping[str, str], inputs: Fingerprint, upstream) -> tuple[int | None, str]:
    tables = STAGE_TABLES[stage]
    if not tables:  # output lives outside DuckDB: its version is what it was made from
        return None, content_hash(inputs.digest, sorted(upstream.items()), length=32)
    counted = [storage.partition_digest(t, partition) for t in tables]
    return counted[0][0], content_hash([d for _, d in counted], length=32)


# --- reading it back ---------------------------------------------------------------------------


def _latest_materialisation(instance: dg.DagsterInstance, stage: str, partition: Mapping[str, str]):
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[partition_key(partition)]), limit=1
    )
    return result.records[0] if result.records else None


def _data_version_of(record) -> str | None:
    return record.event_log_entry.tags.get("dagster/data_version")


def _made(instance: dg.DagsterInstance, stage: str, partition: Mapping[str, str]) -> Made | None:
    record = _latest_materialisation(instance, stage, partition)
    if record is None:
        return None
    metadata = record.asset_materialization.metadata
    inputs = metadata.get("input_digests")
    upstream = metadata.get("upstream_versions")
    return Made(
        inputs=dict(inputs.value) if inputs is not None else {},
        data_version=_data_version_of(record),
        upstream=dict(upstream.value) if upstream is not None else {},
        order=record.storage_id,
    )


class StageGraph:
    """The stages of a Definitions, their parents and partitions, as staleness.assess wants them."""

    def __init__(self, asset_graph):
        keys = {k.to_user_string() for k in asset_graph.get_all_asset_keys()}
        self.stages = tuple(s for s in STAGES if s in keys)

        self.parents = {s: stage_parents(asset_graph, s) for s in self.stages}
        self.partitions = {s: _partitions_of(asset_graph.get(dg.AssetKey(s)).partitions_def) for s in self.stages}

    def assess(self, instance: dg.DagsterInstance, config: CosmoConfig, seed_limit: int | None) -> list[Verdict]:
        fingerprints: dict[tuple[str, str], Fingerprint] = {}

        def current(stage: str, partition: Mapping[str, str]) -> Fingerprint:
            key = (stage, partition_key(partition))
            if key not in fingerprints:
                fingerprints[key] = fingerprint(config, stage, partition, seed_limit)
            return fingerprints[key]

        return assess(self.stages, self.parents, self.partitions, current, lambda s, p: _made(instance, s, p))


def partitions_in_flight(instance: dg.DagsterInstance) -> set[str]:
    """Partition keys with a queued or running run: requesting them again would only race it."""
    records = instance.get_run_records(dg.RunsFilter(statuses=_IN_PROGRESS))
    return {r.dagster_run.tags["dagster/partition"] for r in records if "dagster/partition" in r.dagster_run.tags}


def current_config(config_dir) -> CosmoConfig:
    """The config as it is on disk now (a long-running code server loaded it at start)."""
    return load_config(config_dir)


def assess_now(context, resource) -> list[Verdict] | dg.SkipReason:
    """Verdicts on every stage partition against the configs as they are on disk now, for a schedule or
    sensor tick; a skip that says why when the configs do not load."""
    try:
        config = current_config(resource.config_dir)
    except ConfigError as exc:
        return dg.SkipReason(f"configs cannot be loaded, nothing requested:\n{exc}")
    return StageGraph(context.repository_def.asset_graph).assess(context.instance, config, resource.seed_limit(config))


def run_requests(
    plans: Sequence[Refresh], in_flight: set[str], run_key: Callable[[Refresh], str], trigger: str, job_name: str | None = None
) -> list[dg.RunRequest]:
    """One run per partition to refresh, of exactly its missing or stale stages; partitions with a run
    already queued or running are left to it. A release is re-made whole: its quota allocation and
    SQL models feed one another, so a subset would read the others' old rows."""
    return [
        dg.RunRequest(
            run_key=run_key(plan),
            job_name=job_name,
            partition_key=_dagster_key(plan.partition),
            asset_selection=None if "domain" not in plan.partition else [dg.AssetKey(s) for s in plan.stages],
            tags={TRIGGER_TAG: trigger, "cosmo/stages": ",".join(plan.stages), "cosmo/why": _short("; ".join(plan.reasons))},
        )
        for plan in plans
        if plan.key not in in_flight
    ]


def _short(text: str, limit: int = 250) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the inputs_current check ----------------------------------------------------------------


def _check_result(verdict: Verdict) -> dict:
    if verdict.state == FRESH:
        description = "made from the current configs, seed file, templates, code and upstream partitions"
    else:
        description = f"{verdict.state}: " + "; ".join(verdict.reasons)
    return dict(
        passed=verdict.state == FRESH,
        severity=dg.AssetCheckSeverity.WARN,
        description=_short(description, 1000),
        metadata={"state": verdict.state, "reasons": dg.MetadataValue.json(list(verdict.reasons))},
    )


def build_input_checks(assets: Sequence[dg.AssetsDefinition], resource) -> list[dg.AssetChecksDefinition]:
    """One `inputs_current` check per stage: WARN when a partition is stale, naming what changed.

    The input-change sensor re-evaluates it whenever a verdict changes; a run that materialises the
    asset evaluates it too, and it can be executed from the UI at any time."""
    return [_input_check(asset, resource) for asset in assets]


def _input_check(asset: dg.AssetsDefinition, resource) -> dg.AssetChecksDefinition:
    stage = asset.key.to_user_string()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)

        @dg.asset_check(
            asset=asset,
            name=INPUTS_CHECK,
            partitions_def=asset.partitions_def,
            blocking=False,
            description="The partition was made from the current configs, seed file, templates, code and "
            "upstream partitions; WARN names what changed since.",
        )
        def inputs_current(context) -> dg.AssetCheckResult:  # no annotation: this module defers them
            config = current_config(resource.config_dir)
            graph = StageGraph(context.job_def.asset_layer.asset_graph)
            key = partition_key(_partition_dict(context.partition_key))
            verdicts = graph.assess(context.instance, config, resource.seed_limit(config))
            return dg.AssetCheckResult(**_check_result(next(v for v in verdicts if v.stage == stage and v.key == key)))

    return inputs_current


def check_evaluation(verdict: Verdict) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(verdict.stage), check_name=INPUTS_CHECK, partition=verdict.key, **_check_result(verdict)
    )


# --- the sensor --------------------------------------------------------------------------------


def build_input_change_sensor(resource, generate_job, release_job, interval_s: int) -> dg.SensorDefinition:
    """The sensor that reacts to a changed config, seed file, template or stage code (see its description)."""
    @dg.sensor(
        name="input_changes",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=[generate_job, release_job],
        description=(
            "Watches configs/, the seed files, templates and code. When a materialised partition goes stale, "
            "marks its inputs_current check and requests a run of exactly its stale stages."
        ),
    )
    def input_changes(context: dg.SensorEvaluationContext):
        verdicts = assess_now(context, resource)
        if isinstance(verdicts, dg.SkipReason):
            return verdicts
        reported = json.loads(context.cursor) if context.cursor else {}
        events, now = [], {}
        for verdict in verdicts:
            if verdict.state == MISSING:
                continue
            now[verdict.target] = content_hash(verdict.state, verdict.reasons, verdict.made.order)
            if reported.get(verdict.target) != now[verdict.target]:
                events.append(check_evaluation(verdict))
        in_flight = partitions_in_flight(context.instance)
        requests = run_requests(
            refreshes(verdicts, PER_DOMAIN_STAGES, include_missing=False),
            in_flight,
            lambda plan: f"inputs:{plan.key}:{_state_key(verdicts, plan)}",
            "input_changes",
            generate_job.name,
        )
        requests += run_requests(
            _own_release_changes(verdicts),
            in_flight,
            lambda plan: f"inputs:{plan.key}:{_state_key(verdicts, plan)}",
            "input_changes",
            release_job.name,
        )
        return dg.SensorResult(run_requests=requests, asset_events=events, cursor=json.dumps(now, sort_keys=True))

    return input_changes


def _state_key(verdicts: Sequence[Verdict], plan: Refresh) -> str:
    # Changes after each run of the partition, so a later change to the same state asks again;
    # stays the same while nothing is re-made, so one change asks once (Dagster drops repeated run keys).
    made = [(v.stage, v.reasons, v.made.order if v.made else None) for v in verdicts if v.key == plan.key and v.stage in plan.stages]
    return content_hash(made)


def _own_release_changes(verdicts: Sequence[Verdict]) -> list[Refresh]:
    """Releases whose own inputs changed (balance settings, SQL models, code) while no domain of their
    language is stale. Releases behind a re-made upstream partition are made by their eager
    automation condition, so they are not requested twice."""
    pending_languages = {v.partition["language"] for v in verdicts if v.stage in PER_DOMAIN_STAGES and v.state == STALE}
    return [
        plan for plan in refreshes(verdicts, PER_LANGUAGE_STAGES, include_missing=False)
        if plan.reasons and plan.partition["language"] not in pending_languages
    ]


