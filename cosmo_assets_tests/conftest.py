"""Shared fixtures and helpers: a small project config in a temporary folder with its own DuckDB file, a real
Dagster instance, the project's definitions over that config, and sample drafts. Test modules import
helpers from here, never from one another."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR, load_config
from cosmo_assets.storage import empty_frame
from cosmo_assets.verdicts import FRESH

FIXTURES = Path(__file__).parent / "fixtures"


def make_config_dir(root: Path, domains: tuple[str, ...] = ("alpha", "beta")) -> Path:
    """configs/ as shipped (templates, mix, filters, benchmarks, model), but two small domains and private storage."""
    config_dir = root / "configs"
    config_dir.mkdir(parents=True)
    for item in DEFAULT_CONFIG_DIR.iterdir():
        if item.suffix == ".yaml":
            shutil.copy(item, config_dir / item.name)
    shutil.copytree(DEFAULT_CONFIG_DIR / "templates", config_dir / "templates")
    shutil.copytree(DEFAULT_CONFIG_DIR / "benchmarks", config_dir / "benchmarks")
    (config_dir / "knowledge_base").mkdir()
    shutil.copy(FIXTURES / "tiny_kb.jsonl", config_dir / "knowledge_base" / "tiny_kb.jsonl")
    (config_dir / "domains").mkdir()
    for name in domains:
        write_yaml(config_dir / "domains" / f"{name}.yaml",
                   {"name": name, "title": name.title(), "knowledge_base": "knowledge_base/tiny_kb.jsonl"})
    (config_dir / "real_text").mkdir()
    shutil.copy(FIXTURES / "real_text.jsonl", config_dir / "real_text" / "tiny_real.jsonl")
    edit_yaml(config_dir / "balance.yaml", lambda d: d["real_text"]["corpora"][0].update(path="real_text/tiny_real.jsonl"))
    edit_yaml(config_dir / "project.yaml", lambda d: d["storage"].update(
        duckdb_path=str(root / "data" / "cosmo.duckdb"), export_dir=str(root / "data" / "exports")))
    return config_dir


def write_yaml(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    write_yaml(path, data)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("COSMO_LLM_MODEL", "COSMO_LLM_API_BASE", "COSMO_DUCKDB_PATH", "COSMO_EXPORT_DIR", "COSMO_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    return make_config_dir(tmp_path)


# --- a real Dagster instance and the project's definitions over a config folder ------------------


def definitions(config_dir: Path, seeds: int) -> dg.Definitions:
    from cosmo_assets.definitions import build_definitions  # builds the shipped code location on import
    from cosmo_assets.defs.resources import CosmoResource

    config = load_config(config_dir)
    return build_definitions(config, CosmoResource(config_dir=str(config_dir), seeds_per_partition=seeds))


def table(config_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        return con.execute(sql).fetchall()


# How often the daemon looks, for tests that wait on it: the shipped settings (a queued run leaves the
# queue within 5 s, run monitoring looks every 15 s and frees a dead run's pool slots 15 s after it ended)
# suit a machine left running, and a test would wait out each of them in turn. These are polling periods,
# not limits: what the tests wait for is still an event, and each wait keeps its own generous limit.
QUICK_DAEMON = {"dequeue_interval_seconds": 1, "poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 2}


def instance_config(home: Path, source: Path | None = None, **blocks) -> Path:
    """`home`/dagster.yaml: the project's instance config (or `source`), polled at QUICK_DAEMON's periods,
    with `blocks` (top-level sections, e.g. auto_materialize) added or replaced."""
    from cosmo_assets.config import PROJECT_ROOT

    data = yaml.safe_load((source or PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8"))
    data["run_coordinator"]["config"]["dequeue_interval_seconds"] = QUICK_DAEMON["dequeue_interval_seconds"]
    monitoring = data.get("run_monitoring", {})
    for setting in ("poll_interval_seconds", "free_slots_after_run_end_seconds"):
        if setting in monitoring:
            monitoring[setting] = QUICK_DAEMON[setting]
    data.update(blocks)
    home.mkdir(exist_ok=True)
    write_yaml(home / "dagster.yaml", data)
    return home


def instance_in(tmp_path: Path):
    """A real, SQLite-backed Dagster instance in its own folder."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return dg.instance_for_test(temp_dir=str(home))


# --- sample drafts ----------------------------------------------------------------------------------

GOOD = (
    "The Nile is a long river in Africa. It flows north through several countries before it reaches the "
    "Mediterranean Sea. Farmers along its banks have relied on its yearly floods for thousands of years, "
    "because the water leaves rich soil behind. Today dams control much of that flow."
)
OTHER = (
    "Volcanoes form where molten rock rises through the crust of the Earth. Some erupt with great force and "
    "throw ash high into the sky, while others release slow rivers of lava. People who live nearby watch the "
    "mountains closely, because an eruption can change the land and the weather for years."
)


def drafts(*texts: str | None, status: str = "ok") -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {
            "draft_id": [f"d{i}" for i in range(n)], "outline_id": [f"o{i}" for i in range(n)],
            "seed_id": ["s"] * n, "domain": ["geo"] * n, "language": ["en"] * n, "status": [status] * n,
            "text": list(texts),
        },
        schema_overrides={"text": pl.String},
    )


# --- helpers several test modules share ------------------------------------------------------------


def seed_rows(domain: str, language: str, ids: list[str]) -> pl.DataFrame:
    rows = empty_frame("seeds").schema
    return pl.DataFrame(
        [
            {"seed_id": i, "domain": domain, "language": language, "title": f"T {i}", "topic_type": "concept",
             "description": "", "facts": [{"property": "p", "value": "v"}], "keywords": ["k"],
             "source": "test", "source_id": i}
            for i in ids
        ],
        schema=rows,
    )


def use_sources(config_dir: Path, sources: list[dict], filters: dict | None = None, domain: str = "alpha") -> None:
    data = {"name": domain, "title": domain.title(), "sources": sources}
    if filters:
        data["filters"] = filters
    write_yaml(config_dir / "domains" / f"{domain}.yaml", data)


# The generation tests' project: domain alpha on a bigger knowledge base, reached as openai/test-model.
ALPHA_EN = dg.MultiPartitionKey({"domain": "alpha", "language": "en"})


def science_project(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test project with a bigger knowledge base (the shipped science domain) behind domain alpha,
    short timeouts and backoffs, reached as openai/test-model at a server the test sets."""
    shutil.copy(DEFAULT_CONFIG_DIR / "knowledge_base" / "science.jsonl", config_dir / "knowledge_base" / "tiny_kb.jsonl")
    edit_yaml(config_dir / "model.yaml", lambda m: m.update(
        model="openai/test-model", timeout_s=5, max_retries=2, retry_backoff_s=0.05, max_in_flight=8))
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
    return config_dir


def run_generate(config_dir: Path, tmp_path: Path, seeds: int, api_base: str):
    """The generate job on partition alpha|en against a model server at `api_base`, its run log kept."""
    from cosmo_assets.definitions import build_definitions  # builds the shipped code location on import
    from cosmo_assets.defs.resources import CosmoResource

    os.environ["COSMO_LLM_API_BASE"] = api_base  # the config loader's override, as a user sets it
    try:
        config = load_config(config_dir)
        defs = build_definitions(config, CosmoResource(config_dir=str(config_dir), seeds_per_partition=seeds))
        home = tmp_path / "dagster_home"
        home.mkdir(exist_ok=True)
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            result = defs.resolve_job_def("generate").execute_in_process(
                partition_key=ALPHA_EN, instance=instance, raise_on_error=False
            )
            # What the run log shows in the UI, level and message.
            result.log_lines = [(e.level, e.user_message) for e in instance.all_logs(result.run_id)]
            return result
    finally:
        del os.environ["COSMO_LLM_API_BASE"]


def materialization(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def main_env(config_dir: Path, tmp_path: Path, api_base: str, key: str = "test-key-not-secret") -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("COSMO_")},
        "COSMO_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "COSMO_LLM_MODEL": "openai/test-model",
        "COSMO_LLM_API_BASE": api_base,
        "COSMO_LLM_API_KEY": key,
    }


# Staleness: verdicts now, and the `inputs_current` results the instance stores.
def _stages() -> list[str]:
    from cosmo_assets.fingerprints import STAGES

    return list(STAGES)


def states(defs: dg.Definitions, instance, config_dir: Path) -> dict[str, str]:
    from cosmo_assets.defs.stage_graph import StageGraph
    from cosmo_assets.fingerprints import CONFIGURED

    config = load_config(config_dir)
    verdicts = StageGraph(defs.resolve_asset_graph()).assess(instance, config, CONFIGURED)
    return {v.target: v.state for v in verdicts}


def stale_only(defs, instance, config_dir) -> set[str]:
    return {t for t, s in states(defs, instance, config_dir).items() if s != FRESH}


def check_executions(instance) -> list:
    """Every `inputs_current` result stored in the instance (the UI's check history), oldest first."""
    records = [
        record
        for stage in _stages()
        for record in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(stage), "inputs_current"), limit=100_000
        )
        if record.event is not None and record.event.dagster_event.event_specific_data.__class__ is dg.AssetCheckEvaluation
    ]
    return sorted(records, key=lambda r: r.id)


def check_reports(instance) -> list[dg.AssetCheckEvaluation]:
    return [r.event.dagster_event.event_specific_data for r in check_executions(instance)]


def latest_checks(instance) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The latest `inputs_current` result per stage and partition, as the UI shows it."""
    return {(e.asset_key.to_user_string(), e.partition): e for e in check_reports(instance)}


# --- test order ---------------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "starts_first: a test of minutes, mostly waiting; run before the others")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of minutes that mostly wait (test_team, the UI) go first. In file order they came last, and under
    `--dist worksteal` one worker ran them alone for minutes after the other had finished; first, the
    other worker's share runs beside them. Only these: two heavy tests side by side slow each other down."""
    first = [item for item in items if item.get_closest_marker("starts_first")]
    items[:] = first + [item for item in items if not item.get_closest_marker("starts_first")]
