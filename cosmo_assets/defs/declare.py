"""How every asset is declared: the one place for owners, groups, partitions, checks, automation, and, for
stages whose freshness is judged (fingerprints.STAGES), their code version, metadata and provenance.

Modules that define assets leave out `from __future__ import annotations`: Dagster reads the `context`
parameter's annotation, which must be the class, not a string."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import dagster as dg

from cosmo_assets.defs.metadata import stage_metadata
from cosmo_assets.defs.provenance import recorded
from cosmo_assets.defs.shared import OWNERS, check_spec
from cosmo_assets.fingerprints import STAGES, code_version

GENERATION_GROUP = "generation"
RELEASE_GROUP = "release"
REVIEW_GROUP = "review"


def asset(
    name: str,
    partitions: dg.PartitionsDefinition | None,
    *,
    kinds: set[str],
    checks: Mapping[str, str],
    deps: Iterable[str | dg.AssetDep] = (),
    group: str = GENERATION_GROUP,
    eager: bool = False,
    **extra,
) -> Callable:
    """The decorator of asset `name`: `checks` (check name -> description) blocking and partitioned like
    the asset; `eager` materialises it when its upstream changes; a stage also records provenance."""
    stage = name in STAGES
    declared = dg.asset(
        name=name,
        partitions_def=partitions,
        deps=list(deps),
        group_name=group,
        kinds=kinds,
        owners=OWNERS,
        check_specs=[check_spec(name, check, description, partitions) for check, description in checks.items()],
        **({"automation_condition": dg.AutomationCondition.eager()} if eager else {}),
        **({"code_version": code_version(name), "metadata": stage_metadata(name)} if stage else {}),
        **extra,
    )
    return (lambda fn: declared(recorded(name)(fn))) if stage else declared
