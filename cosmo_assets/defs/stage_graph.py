"""Reading provenance back: the stages of a Definitions, what each partition was made from, the verdicts
on them now (cosmo_assets/verdicts.py), and the run requests that refresh what is stale."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from cosmo_assets.config import ConfigError, CosmoConfig, load_config
from cosmo_assets.defs.partitions import dagster_key, partitions_of
from cosmo_assets.display import clip
from cosmo_assets.fingerprints import STAGES, Fingerprint, fingerprint
from cosmo_assets.verdicts import Made, Refresh, Verdict, assess, partition_key

TRIGGER_TAG = "cosmo/trigger"
_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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


def latest_materialisation(instance: dg.DagsterInstance, stage: str, partition: Mapping[str, str]):
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[partition_key(partition)]), limit=1
    )
    return result.records[0] if result.records else None


def data_version_of(record) -> str | None:
    return record.event_log_entry.tags.get("dagster/data_version")


def _made(instance: dg.DagsterInstance, stage: str, partition: Mapping[str, str]) -> Made | None:
    record = latest_materialisation(instance, stage, partition)
    if record is None:
        return None
    metadata = record.asset_materialization.metadata
    inputs = metadata.get("input_digests")
    upstream = metadata.get("upstream_versions")
    return Made(
        inputs=dict(inputs.value) if inputs is not None else {},
        data_version=data_version_of(record),
        upstream=dict(upstream.value) if upstream is not None else {},
        order=record.storage_id,
    )


class StageGraph:
    """The stages of a Definitions, their parents and partitions, as staleness.assess wants them."""

    def __init__(self, asset_graph):
        keys = {k.to_user_string() for k in asset_graph.get_all_asset_keys()}
        self.stages = tuple(s for s in STAGES if s in keys)

        self.parents = {s: stage_parents(asset_graph, s) for s in self.stages}
        self.partitions = {s: partitions_of(asset_graph.get(dg.AssetKey(s)).partitions_def) for s in self.stages}

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
            partition_key=dagster_key(plan.partition),
            asset_selection=None if "domain" not in plan.partition else [dg.AssetKey(s) for s in plan.stages],
            tags={TRIGGER_TAG: trigger, "cosmo/stages": ",".join(plan.stages), "cosmo/why": clip("; ".join(plan.reasons), 250)},
        )
        for plan in plans
        if plan.key not in in_flight
    ]
