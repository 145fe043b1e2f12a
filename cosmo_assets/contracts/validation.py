"""Running a table's great-expectations suite on the partition just written (imports GX: see suites.py)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import great_expectations as gx
import pandas as pd
import polars as pl
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig

from cosmo_assets.config import CosmoConfig
from cosmo_assets.contracts.outcomes import EXAMPLES, ExpectationResult, Outcome
from cosmo_assets.contracts.rules import (
    articles_per_seed_within_cap,
    articles_per_template_within_cap,
    every_draft_decided_once,
    min_kept_articles,
    outlines_use_their_seed_facts,
    quarantined_share_within_limit,
)
from cosmo_assets.contracts.suites import ROW_ID, WARNING, suite
from cosmo_assets.display import clip


def validate(
    table: str,
    frame: pl.DataFrame,
    config: CosmoConfig,
    parameters: Mapping[str, Any] | None = None,
    cross_table: Sequence[ExpectationResult] = (),
    **options: Any,
) -> Outcome:
    """Run `table`'s suite on one partition's frame; `cross_table` results (rules GX cannot express on
    one frame) join the same outcome. `options` go to the suite's builder (e.g. quota targets)."""
    started = time.perf_counter()
    contract = suite(table, config, **options)
    parameters = dict(parameters or {})
    missing = sorted(_parameters_of(contract) - set(parameters))
    if missing:
        raise ValueError(f"{table} suite needs parameters {missing}; got {sorted(parameters)}")
    results = run_suite(contract, frame, ROW_ID[table], parameters)
    return Outcome(results + list(cross_table), rows=frame.height, validation_s=time.perf_counter() - started)


def run_suite(contract: gx.ExpectationSuite, frame: pl.DataFrame, row_id: str,
              parameters: Mapping[str, Any] | None = None) -> list[ExpectationResult]:
    """Each expectation of `contract` on `frame`, in the suite's order; unexpected examples name rows by `row_id`."""
    data = to_pandas(frame)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": data})
    run = batch.validate(
        contract,
        expectation_parameters=dict(parameters or {}),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
    )
    by_name = {r.expectation_config.description: r for r in run.results}
    return [_result(by_name[e.description], data, row_id) for e in contract.expectations]


def check_partition(
    table: str,
    frame: pl.DataFrame,
    config: CosmoConfig,
    *,
    quota_targets: Mapping[str, Mapping[str, float]] | None = None,
    quota_tolerance: float = 0.05,
    read: int = 0,
    extra_rules: Sequence[ExpectationResult] = (),
    **upstream: pl.DataFrame,
) -> Outcome:
    """The contract of the partition just written. `upstream` holds the frames that cross-table
    expectations compare against: seeds take their `quarantine` (and `read`, the rows read); outlines need `seeds`; drafts need `outlines`; filtered_articles
    need `drafts` and `rejected`. The balanced dataset takes the quota targets its release aimed at."""
    if table == "seeds" and "quarantine" in upstream:
        rule = quarantined_share_within_limit(upstream["quarantine"], read, config.seeds.max_bad_share)
        return validate(table, frame, config, cross_table=[rule])
    if table == "outlines":
        seeds = upstream["seeds"]
        return validate(
            table, frame, config, {"seed_ids": seeds["seed_id"].to_list()}, [outlines_use_their_seed_facts(frame, seeds)]
        )
    if table == "drafts":
        return validate(table, frame, config, {"outline_ids": upstream["outlines"]["outline_id"].to_list()})
    if table == "filtered_articles":
        drafts, rejected = upstream["drafts"], upstream["rejected"]
        parameters = {
            "draft_ids": drafts["draft_id"].to_list(),
            "drafts": drafts.height,
            # Drafts a budget stopped were never written: the kept share is of those the model was asked for.
            "min_kept": min_kept_articles(
                drafts.filter(pl.col("status") != "skipped_budget").height,
                config.filters.for_model(config.model.model).min_kept_share,
            ),
        }
        return validate(table, frame, config, parameters, [every_draft_decided_once(frame, rejected, drafts)])
    if table == "balanced_dataset":
        return validate(
            table, frame, config,
            cross_table=[
                articles_per_seed_within_cap(frame, config.balance.max_per_seed),
                *([articles_per_template_within_cap(frame, config.balance.max_per_template)]
                  if config.balance.max_per_template is not None else []),
                *extra_rules,
            ],
            quota_targets=quota_targets, quota_tolerance=quota_tolerance,
        )
    return validate(table, frame, config)


@functools.cache
def _batch_definition():
    # Ephemeral: nothing written to disk, no GX project folder, no cloud; one per process.
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        ),
    )
    asset = context.data_sources.add_pandas("cosmo_partitions").add_dataframe_asset("partition")
    return asset.add_batch_definition_whole_dataframe("the_partition_just_written")


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """GX validates pandas. Integers and booleans become nullable pandas types (a null must not turn
    an INTEGER column into floats); strings, lists and structs become Python objects, whichever
    string dtype the installed pandas prefers."""
    columns = {}
    for name, dtype in frame.schema.items():
        series = frame[name]
        if dtype.is_integer():
            columns[name] = pd.Series(series.to_list(), dtype=str(dtype))  # Int32, UInt8, ...
        elif dtype == pl.Boolean:
            columns[name] = pd.Series(series.to_list(), dtype="boolean")
        elif dtype.is_float():
            columns[name] = pd.Series(series.to_numpy(), dtype=str(dtype).lower())
        else:
            columns[name] = pd.Series(series.to_list(), dtype=object)
    return pd.DataFrame(columns, index=pd.RangeIndex(frame.height))


def _parameters_of(contract: gx.ExpectationSuite) -> set[str]:
    found = set()
    for expectation in contract.expectations:
        for value in expectation.configuration.kwargs.values():
            if isinstance(value, dict) and "$PARAMETER" in value:
                found.add(value["$PARAMETER"])
    return found


def _result(run_result, data: pd.DataFrame, row_id: str) -> ExpectationResult:
    config = run_result.expectation_config
    found = run_result.result or {}
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    examples: list[Any] = []
    error = _exception_message(run_result.exception_info)
    if error is not None:
        observed: Any = f"could not evaluate: {error}"
    elif "observed_value" in found and found["observed_value"] is not None:
        observed = _plain(found["observed_value"])
    elif "missing_count" in found and "partial_missing_list" in found:
        observed = {"missing": found["missing_count"]}
        examples = [_plain(v) for v in found["partial_missing_list"][:EXAMPLES]]
    elif "unexpected_count" in found:
        observed = {"unexpected_rows": found["unexpected_count"], "rows_checked": found.get("element_count", 0)}
        if kwargs.get("mostly") is not None and found.get("element_count"):
            observed["share_meeting_it"] = round(1 - found["unexpected_count"] / found["element_count"], 4)
            observed["share_required"] = kwargs["mostly"]
        rows = found.get("partial_unexpected_index_list") or []
        values = found.get("partial_unexpected_list") or []
        for index, value in list(zip(rows, values))[:EXAMPLES]:
            key = data[row_id].iloc[index] if row_id in data and isinstance(index, int) else index
            examples.append({row_id: _plain(key), "value": _plain(value)})
    else:
        observed = None
    return ExpectationResult(
        name=config.description,
        passed=bool(run_result.success),
        severity="warn" if str(getattr(config.severity, "value", config.severity)) == WARNING else "error",
        observed=observed,
        unexpected_examples=examples,
        rule=clip(f"{config.type}({', '.join(f'{k}={_plain(v)!r}' for k, v in kwargs.items())})", 300),
    )


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """The first error GX caught while evaluating an expectation (it reports them flat, or per metric)."""
    if not info:
        return None
    found = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    for entry in found:
        if entry.get("raised_exception"):
            lines = str(entry.get("exception_message") or "unknown error").strip().splitlines()
            return lines[0] if lines else "unknown error"
    return None


def _plain(value: Any) -> Any:
    """JSON-friendly and short: numpy scalars to Python, long lists and strings clipped."""
    if type(value).__module__ == "numpy":  # numpy arrays and scalars GX returns
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str):
        return clip(re.sub(r"\s+", " ", value), 120)
    if isinstance(value, (list, tuple, set)):
        items = [_plain(v) for v in list(value)[:5]]
        return items + [f"… {len(value) - 5} more"] if len(value) > 5 else items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
