"""What every asset module shares: owners, previews for the UI, check specs, and the one adapter from a
check's Outcome to a Dagster check result."""

from __future__ import annotations

import dagster as dg
import polars as pl

from cosmo_assets import contracts

OWNERS = ["team:data-factory"]


def preview(frame: pl.DataFrame, columns: list[str], rows: int = 5) -> dg.MetadataValue:
    """The first rows of `frame` as a Markdown table, cells flattened and cut to fit the UI."""
    if frame.height == 0:
        return dg.MetadataValue.md("_empty partition_")
    sample = frame.head(rows).select(columns).with_columns(
        pl.col(c).cast(pl.String).str.replace_all(r"\s+", " ").str.slice(0, 160).str.replace_all(r"\|", "/")
        for c in columns
    )
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in sample.iter_rows())
    return dg.MetadataValue.md(header + body)


def counts(frame: pl.DataFrame, column: str) -> dg.MetadataValue:
    return dg.MetadataValue.json(dict(frame.group_by(column).len().sort(column).iter_rows()) if frame.height else {})


def check_spec(asset: str, name: str, description: str, partitions: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
    """A blocking check on `asset`, partitioned like it so the UI shows each partition's own result
    (partitioned checks are a Dagster preview: definitions.py silences its warning)."""
    return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description, partitions_def=partitions)


def check_fields(outcome: contracts.Outcome) -> dict:
    """Any check's outcome (a contract's, a polars rule's, a staleness verdict's) as Dagster takes it:
    the one adapter, for an asset's own check result and for a sensor's check evaluation alike."""
    metadata = {
        key: dg.MetadataValue.md(value) if key == "expectations" else dg.MetadataValue.json(value) if isinstance(value, list) else value
        for key, value in outcome.metadata.items()
    }
    return dict(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == "error" else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata=metadata,
    )


def check_result(name: str, outcome: contracts.Outcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, **check_fields(outcome))


def run_contract(table: str, frame: pl.DataFrame, cosmo, **inputs) -> contracts.Outcome:
    """`table`'s great-expectations suite (cosmo_assets/contracts/suites.py) run on the partition just written;
    `inputs` are the upstream frames (and quota targets) that `check_partition` takes."""
    from cosmo_assets.contracts.validation import check_partition  # GX takes 5 s or more to import: only when a check runs

    return check_partition(table, frame, cosmo.config, **inputs)


def contract_result(name: str, table: str, frame: pl.DataFrame, cosmo, **inputs) -> dg.AssetCheckResult:
    """The contract check of a partition: fails as ERROR (blocking what follows) if any ERROR expectation
    failed, as WARN if only WARN ones did."""
    return check_result(name, run_contract(table, frame, cosmo, **inputs))


def diversity_result(name: str, figures: dict[str, dict], settings) -> dg.AssetCheckResult:
    """WARN when a figure of any group (a partition, or a domain of a release) crosses a floor of
    filters.yaml `diversity` (config/filters.py DiversitySettings); it blocks nothing."""
    from cosmo_assets.diversity import below_floors

    short = {group: lines for group, f in figures.items()
             if (lines := below_floors(f, settings.floors.model_dump(), settings.min_texts))}
    judged = [g for g, f in figures.items() if f.get("texts", 0) >= settings.min_texts]
    if short:
        description = "; ".join(f"{g}: {', '.join(lines)}" for g, lines in short.items())
    elif judged:
        description = f"every figure within the floors of filters.yaml diversity ({', '.join(judged)})"
    else:
        description = f"not judged: fewer than {settings.min_texts} texts (filters.yaml diversity.min_texts)"
    return dg.AssetCheckResult(
        check_name=name, passed=not short, severity=dg.AssetCheckSeverity.WARN, description=description[:1000],
        metadata={"below_floors": dg.MetadataValue.json(short), "figures": dg.MetadataValue.json(figures)},
    )
