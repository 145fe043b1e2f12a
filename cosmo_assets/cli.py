"""`python -m cosmo_assets run`: the main job, every partition through all five stages on one
Dagster instance (the project's dagster_home/), so the UI shows the runs afterwards.
`python -m cosmo_assets stale` lists the partitions that are missing or stale, and why;
`python -m cosmo_assets run --stale-only` makes only those; `python -m cosmo_assets plan` forecasts
what drafting will cost (tokens, USD, time, budgets) without calling the model;
`python -m cosmo_assets lake bootstrap|maintain` sets up and tends the team's lake (docs/deploy.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

from cosmo_assets.config import PROJECT_ROOT, ConfigError, load_config

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
STARTED = time.perf_counter()  # the summary's time is wall time from the command's start, imports included


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cosmo_assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="generate a dataset end to end: seeds -> ... -> dataset_export")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--seeds", type=int, metavar="N", help="seeds per partition (default: configs/project.yaml)")
    size.add_argument("--full", action="store_true", help="every seed of every knowledge base")
    run.add_argument("--domains", help="comma-separated domains (default: all configured)")
    run.add_argument("--languages", help="comma-separated languages (default: all enabled)")
    run.add_argument(
        "--stale-only", action="store_true",
        help="only partitions that are missing or stale (see `stale`), and only their stages that are",
    )
    plan = sub.add_parser("plan", help="forecast tokens, cost, time and budget stops of a run; no model call")
    plan_size = plan.add_mutually_exclusive_group()
    plan_size.add_argument("--seeds", type=int, metavar="N", help="seeds per partition (default: configs/project.yaml)")
    plan_size.add_argument("--full", action="store_true", help="every seed of every knowledge base")
    plan.add_argument("--domains", help="comma-separated domains (default: all configured)")
    plan.add_argument("--languages", help="comma-separated languages (default: all enabled)")
    stale = sub.add_parser("stale", help="list partitions that are missing or stale, with the reason")
    stale_size = stale.add_mutually_exclusive_group()
    stale_size.add_argument("--seeds", type=int, metavar="N", help="compare against runs of N seeds per partition")
    stale_size.add_argument("--full", action="store_true", help="compare against full-size runs")
    stale.add_argument("--all", action="store_true", help="list fresh partitions too")
    stale.add_argument("--domains", help="comma-separated domains to list (default: all configured)")
    stale.add_argument("--languages", help="comma-separated languages to list (default: all enabled)")
    lake = sub.add_parser("lake", help="team mode: the DuckLake's tables and upkeep (storage.backend: ducklake)")
    lake.add_argument("action", choices=["bootstrap", "maintain"],
                      help="bootstrap: create every table, partitioned, before any worker writes; "
                           "maintain: expire old snapshots and delete files no snapshot reads")
    lake.add_argument("--keep-days", type=int, metavar="N", help="maintain: keep N days of snapshots (default: configs/project.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the command that resumes a stopped run
    os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "stale":
        return list_stale(config, args)
    if args.command == "plan":
        print(_forecast(config, args).table())
        return 0
    if args.command == "lake":
        return tend_lake(config, args)
    return run_everything(config, args)


def _judged_size(args: argparse.Namespace):
    """--seeds N or --full judge against that size; neither, against the configured one."""
    from cosmo_assets.fingerprints import CONFIGURED

    return None if args.full else args.seeds or CONFIGURED


def _verdicts(config, args: argparse.Namespace, instance, languages=None):
    from cosmo_assets.defs.stage_graph import StageGraph

    return StageGraph.for_config(config, languages).assess(instance, config, _judged_size(args))


def list_stale(config, args: argparse.Namespace) -> int:
    """Judged without building the Definitions or loading the stage libraries: answers in seconds."""
    import dagster as dg

    from cosmo_assets.verdicts import FRESH

    domains = _pick(args.domains, config.domain_names, "domains")
    languages = _pick(args.languages, config.enabled_languages, "languages")
    with dg.DagsterInstance.get() as instance:
        # A release reads every domain of its language: judge them all, list the chosen ones.
        verdicts = [v for v in _verdicts(config, args, instance, languages) if v.partition.get("domain", domains[0]) in domains]
    shown = [v for v in verdicts if args.all or v.state != FRESH]
    width = max([len(v.key) for v in shown] + [9])
    for v in shown:
        print(f"{v.key:<{width}}  {v.stage:<17}  {v.state:<7}  {'; '.join(v.reasons) or '-'}")
    pending = {v.key for v in verdicts if v.state != FRESH}
    partitions = {v.key for v in verdicts}
    print(f"{len(pending)} of {len(partitions)} partitions missing or stale"
          + ("; `python -m cosmo_assets run --stale-only` makes them" if pending else ": everything is up to date"))
    return 0


def _forecast(config, args: argparse.Namespace, show: bool = False):
    from cosmo_assets.stages.plan import plan_generation

    domains = _pick(args.domains, config.domain_names, "domains")
    languages = _pick(args.languages, config.enabled_languages, "languages")
    partitions = [(d, lang) for lang in languages for d in domains]
    seed_limit = None if args.full else args.seeds or config.project.run.seeds_per_partition
    forecast = plan_generation(config, partitions, seed_limit)
    if show:
        print(forecast.table(), flush=True)
    return forecast


def _print_forecast_against_actual(config, forecast) -> None:
    if forecast is None:
        return
    from cosmo_assets.lake import open_storage
    from cosmo_assets.stages.plan import forecast_against_actual

    print("forecast against actual:\n  " + "\n  ".join(forecast_against_actual(forecast, open_storage(config))))


def tend_lake(config, args: argparse.Namespace) -> int:
    from cosmo_assets.lake import LakeError, LakeStorage, open_storage

    storage = open_storage(config)
    if not isinstance(storage, LakeStorage):
        print("storage.backend is duckdb: a DuckDB file needs no bootstrap and keeps no snapshots "
              "(set COSMO_STORAGE_BACKEND=ducklake for team mode, docs/deploy.md)", file=sys.stderr)
        return 2
    try:
        if args.action == "bootstrap":
            tables = storage.bootstrap()
            print(f"lake ready: {len(tables)} tables in {storage.lake.catalog}, data in {storage.lake.data_path}")
        else:
            done = storage.maintain(args.keep_days or config.project.storage.keep_snapshots_days)
            print(f"lake maintained: {done['snapshots_expired']} snapshots expired, {done['files_removed']} files removed")
    except LakeError as exc:
        print(f"lake error: {exc}", file=sys.stderr)
        return 2
    return 0


def _pick(requested: str | None, available: list[str], what: str) -> list[str]:
    if not requested:
        return available
    chosen = [x.strip() for x in requested.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in available]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; configured: {available}")
    return chosen


def _release_blocked(language: str, partitions: list[str]) -> str:
    """A release is never made from a failed generation: it would mix old rows of those partitions with
    new ones of others, or export nothing."""
    return (f"release {language} not made: generation failed for {', '.join(partitions)} (a blocking check or a "
            "step failed; fix it and run again, the partitions already made come from the cache)")


def _model_ready(config) -> bool:
    """A wrong model name, base URL or key stops the command here, before any partition work."""
    from cosmo_assets.llm.client import PreflightError, preflight
    from cosmo_assets.llm.embedded import EmbeddedModelError

    try:
        preflight(config.model)
    except (PreflightError, EmbeddedModelError) as exc:
        print(f"model check failed: {exc}", file=sys.stderr)
        return False
    return True


def run_everything(config, args: argparse.Namespace) -> int:
    from cosmo_assets.run_control import install_stop_handlers

    install_stop_handlers()  # from here on Ctrl+C stops cleanly: a summary, and the command that resumes
    import dagster as dg

    from cosmo_assets.definitions import build_definitions
    from cosmo_assets.defs.jobs import GENERATE_JOB, RELEASE_JOB, REVIEW_JOB
    from cosmo_assets.defs.partitions import dagster_key
    from cosmo_assets.fingerprints import PER_DOMAIN_STAGES, PER_LANGUAGE_STAGES
    from cosmo_assets.verdicts import refreshes

    defs = build_definitions(config)

    domains = _pick(args.domains, config.domain_names, "domains")
    languages = _pick(args.languages, config.enabled_languages, "languages")
    resource_config = {"full_size": bool(args.full)}
    if args.seeds:
        resource_config["seeds_per_partition"] = args.seeds
    run_config = {
        "resources": {"cosmo": {"config": resource_config}},
        "loggers": {"console": {"config": {"log_level": "INFO"}}},  # step-level DEBUG events stay in the UI
    }

    if not _model_ready(config):
        return 2
    forecast = None if args.stale_only else _forecast(config, args, show=True)
    # Every run of this command shares one run budget (configs/model.yaml budget.run).
    tags = {"cosmo/budget_scope": f"main-{uuid.uuid4().hex[:16]}"}

    from cosmo_assets.main_runs import MainRuns, clear_dead, print_summary

    instance = dg.DagsterInstance.get()
    clear_dead(instance)  # a killed earlier run would hold its pool slot and block this one forever
    runs = MainRuns(defs, instance, run_config, tags, started=STARTED)
    execute = runs.execute
    blocked: dict[str, list[str]] = {}  # language -> its partitions whose generation failed in this command

    def generate(partition: dict, stages=None, why: str = "") -> None:
        if not execute(GENERATE_JOB, dagster_key(partition), stages, why) and not runs.stopped:
            blocked.setdefault(partition["language"], []).append(f"{partition['domain']}|{partition['language']}")

    def release(language: str, why: str = "") -> None:
        if language in blocked:
            runs.failures.append(_release_blocked(language, blocked[language]))
            print(f"   {runs.failures[-1]}", flush=True)
        else:
            execute(RELEASE_JOB, language, None, why)

    if config.verdict_files():
        execute(REVIEW_JOB)  # reviewers' verdicts first: templates they rejected stay out of this run
    if args.stale_only:
        def chosen(plan) -> bool:
            return plan.partition["language"] in languages and plan.partition.get("domain", domains[0]) in domains

        plans = [p for p in refreshes(_verdicts(config, args, instance), PER_DOMAIN_STAGES) if chosen(p)]
        for plan in plans:
            generate(dict(plan.partition), plan.stages, "; ".join(plan.reasons))
        # Releases read every domain of their language: judge them after the domains are re-made. A
        # release is re-made whole: its quota allocation and SQL models feed one another.
        releases = [] if runs.stopped else [
            p for p in refreshes(_verdicts(config, args, instance), PER_LANGUAGE_STAGES) if chosen(p)]
        for plan in releases:
            release(plan.partition["language"], "; ".join(plan.reasons))
        if not plans and not releases and not runs.stopped:
            print("nothing is missing or stale: every partition is up to date")
            return 0
    else:
        for language in languages:
            for domain in domains:
                generate({"domain": domain, "language": language})
            release(language)
    if not runs.stopped:
        _print_forecast_against_actual(config, forecast)
    return print_summary(config, runs, languages, domains, args.argv)
