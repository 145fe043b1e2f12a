"""Shared fixtures and helpers: a small project config in a temporary folder with its own DuckDB file, a real
Dagster instance, the project's definitions over that config, and sample drafts. Test modules import
helpers from here, never from one another."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR, load_config

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
