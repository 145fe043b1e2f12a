"""The automation sensor that makes releases follow their domains with no person involved."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.defs.declare import RELEASE_GROUP


def build_release_automation(interval_s: int) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the release assets' eager conditions: once a domain partition of a language is re-made
    (by the nightly schedule, the input_changes sensor, a backfill or the UI), the release of that
    language is re-made, up to its export.

    Running from the start: Dagster's own default automation sensor is stopped on a new instance, and
    a release left behind stays stale until someone runs it."""
    return dg.AutomationConditionSensorDefinition(
        "release_follows_domains",
        target=dg.AssetSelection.groups(RELEASE_GROUP),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        emit_backfills=False,  # one plain run per language: the run queue and its limits apply as to any run
        description="Re-makes a language's release (balanced dataset, export) once a domain of that language "
        "is re-made; nothing while one is still running or missing.",
    )
