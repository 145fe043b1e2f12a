"""`python -m cosmo_assets run`: the main job, every partition through all five stages on one
Dagster instance (the project's dagster_home/), so the UI shows the runs afterwards.
`python -m cosmo_assets stale` lists the partitions that are missing or stale, and why;
`python -m cosmo_assets run --stale-only` makes only those.
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
    stale = sub.add_parser("stale", help="list partitions that are missing or stale, with the reason")
    stale_size = stale.add_mutually_exclusive_group()
    stale_size.add_argument("--seeds", type=int, metavar="N", help="compare against runs of N seeds per partition")
    stale_size.add_argument("--full", action="store_true", help="compare against full-size runs")
    stale.add_argument("--all", action="store_true", help="list fresh partitions too")
    lake = sub.add_parser("lake", help="team mode: the DuckLake's tables and upkeep (storage.backend: ducklake)")
    lake.add_argument("action", choices=["bootstrap", "maintain"],
                      help="bootstrap: create every table, partitioned, before any worker writes; "
                           "maintain: expire old snapshots and delete files no snapshot reads")
    lake.add_argument("--keep-days", type=int, metavar="N", help="maintain: keep N days of snapshots (default: configs/project.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "stale":
        return list_stale(config, args)
    if args.command == "lake":
        return tend_lake(config, args)
    return run_everything(config, args)


def _resource(config, args: argparse.Namespace):
    from cosmo_assets.defs.resources import CosmoResource

    return CosmoResource(config_dir=str(config.root), seeds_per_partition=args.seeds, full_size=bool(args.full))


def _verdicts(config, args: argparse.Namespace, defs, instance):
    from cosmo_assets.defs.stage_graph import StageGraph

    return StageGraph(defs.resolve_asset_graph()).assess(instance, config, _resource(config, args).seed_limit(config))


def list_stale(config, args: argparse.Namespace) -> int:
    import dagster as dg

    from cosmo_assets.definitions import build_definitions
    from cosmo_assets.verdicts import FRESH

    with dg.DagsterInstance.get() as instance:
        verdicts = _verdicts(config, args, build_definitions(config), instance)
    shown = [v for v in verdicts if args.all or v.state != FRESH]
    width = max([len(v.key) for v in shown] + [9])
    for v in shown:
        print(f"{v.key:<{width}}  {v.stage:<17}  {v.state:<7}  {'; '.join(v.reasons) or '-'}")
    pending = {v.key for v in verdicts if v.state != FRESH}
    partitions = {v.key for v in verdicts}
    print(f"{len(pending)} of {len(partitions)} partitions missing or stale"
          + ("; `python -m cosmo_assets run --stale-only` makes them" if pending else ": everything is up to date"))
    return 0


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


def run_everything(config, args: argparse.Namespace) -> int:
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

    from cosmo_assets.llm.client import PreflightError, preflight
    from cosmo_assets.llm.embedded import EmbeddedModelError

    try:
        preflight(config.model)  # a wrong model name, base URL or key stops here, before any partition work
    except (PreflightError, EmbeddedModelError) as exc:
        print(f"model check failed: {exc}", file=sys.stderr)
        return 2
    # Every run of this command shares one run budget (configs/model.yaml budget.run).
    tags = {"cosmo/budget_scope": f"main-{uuid.uuid4().hex[:16]}"}

    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    failures: list[str] = []

    def execute(job_name: str, key=None, stages=None, why: str = "") -> None:
        label = (f"{job_name} {key}" if key is not None else job_name) + (f" ({', '.join(stages)})" if stages else "")
        print(f"-> {label}" + (f": {why}" if why else ""), flush=True)
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=key, instance=instance, run_config=run_config, raise_on_error=False, tags=tags,
            asset_selection=[dg.AssetKey(s) for s in stages] if stages else None,
        )
        if not result.success:
            failures.append(f"{label} (run {result.run_id})")
            print(f"   FAILED: {label}; see the run {result.run_id} in the Dagster UI", flush=True)

    if config.verdict_files():
        execute(REVIEW_JOB)  # reviewers' verdicts first: templates they rejected stay out of this run
    if args.stale_only:
        def chosen(plan) -> bool:
            return plan.partition["language"] in languages and plan.partition.get("domain", domains[0]) in domains

        plans = [p for p in refreshes(_verdicts(config, args, defs, instance), PER_DOMAIN_STAGES) if chosen(p)]
        for plan in plans:
            execute(GENERATE_JOB, dagster_key(plan.partition), plan.stages, "; ".join(plan.reasons))
        # Releases read every domain of their language: judge them after the domains are re-made. A
        # release is re-made whole: its quota allocation and SQL models feed one another.
        releases = [p for p in refreshes(_verdicts(config, args, defs, instance), PER_LANGUAGE_STAGES) if chosen(p)]
        for plan in releases:
            execute(RELEASE_JOB, plan.partition["language"], None, "; ".join(plan.reasons))
        if not plans and not releases:
            print("nothing is missing or stale: every partition is up to date")
            return 0
    else:
        for language in languages:
            for domain in domains:
                execute(GENERATE_JOB, dagster_key({"domain": domain, "language": language}))
            execute(RELEASE_JOB, language)

    _print_summary(config, languages, domains, time.perf_counter() - started)
    print(f"Dagster runs: DAGSTER_HOME={os.environ['DAGSTER_HOME']} (`make ui` to browse them)")
    if failures:
        print("\nfailed runs:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def _print_summary(config, languages: list[str], domains: list[str], seconds: float) -> None:
    """Drafts, kept share, tokens and released rows per language, and where the outputs are."""
    from cosmo_assets.lake import open_storage

    storage = open_storage(config)
    summary = storage.query(
        """
        SELECT d.language, count(*) AS drafts,
               count(*) FILTER (WHERE f.draft_id IS NOT NULL) AS kept,
               sum(d.completion_tokens) AS completion_tokens,
               count(*) FILTER (WHERE d.status = 'skipped_budget') AS skipped_budget
        FROM drafts d LEFT JOIN filtered_articles f USING (draft_id, domain, language)
        WHERE d.language IN (SELECT unnest($languages)) AND d.domain IN (SELECT unnest($domains))
        GROUP BY d.language ORDER BY d.language
        """,
        {"languages": languages, "domains": domains},
    )
    released = storage.query("SELECT language, count(*) AS rows FROM balanced_dataset GROUP BY language")
    released_by_language = dict(released.iter_rows()) if released.height else {}
    print(f"\nfinished in {seconds:.0f} s")
    print(f"storage: {storage.lake.catalog} (data in {storage.lake.data_path})" if getattr(storage, "lake", None) else f"DuckDB file: {storage.path}")
    for language, drafts, kept, tokens, skipped in summary.iter_rows():
        export = config.export_dir() / language
        print(
            f"[{language}] drafts {drafts}, kept {kept} ({kept / drafts:.0%}), completion tokens {tokens}, "
            f"released {released_by_language.get(language, 0)}; export: {export}"
        )
        print(f"[{language}] review sample: {config.review_sample_path(language)} "
              f"(verdicts go in {config.root / config.balance.review.verdict_files})")
        if skipped:
            print(
                f"[{language}] budget reached: {skipped} drafts not generated (status skipped_budget); raise the "
                "budget in configs/model.yaml and run again to finish them (drafts already made come from the cache)"
            )
