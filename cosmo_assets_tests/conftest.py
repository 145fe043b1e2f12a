"""Shared fixtures: a small project config in a temporary folder, with its own DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR

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
