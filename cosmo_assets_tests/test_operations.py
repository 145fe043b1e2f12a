"""The main command as an operator meets it: no release from a failed generation, and `stale` narrowed
to some domains or languages."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from cosmo_assets import cli
from cosmo_assets.config import load_config
from cosmo_assets_tests.conftest import edit_yaml
from cosmo_assets_tests.fake_llm_server import FakeLLMServer


@pytest.fixture
def project(config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeLLMServer() as model:
        monkeypatch.setenv("COSMO_CONFIG_DIR", str(config_dir))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", model.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        yield config_dir


def test_no_release_is_made_from_a_language_whose_generation_failed_its_blocking_check(project, tmp_path, capsys):
    kb = project / "knowledge_base"
    (kb / "empty.jsonl").write_text("", encoding="utf-8")  # beta has no seeds: its seeds_contract fails (ERROR)
    edit_yaml(project / "domains" / "beta.yaml", lambda d: d.update(knowledge_base="knowledge_base/empty.jsonl"))

    assert cli.main(["run", "--seeds", "2"]) == 1
    out, err = capsys.readouterr()
    assert "release en not made: generation failed for beta|en" in out
    assert "-> release en" not in out
    assert "release en not made: generation failed for beta|en" in err  # in the failures listed last
    with dg.DagsterInstance.get() as instance:
        runs = sorted((r.job_name, r.tags.get("dagster/partition"), r.is_success) for r in instance.get_runs())
    assert runs == [("generate", "alpha|en", True), ("generate", "beta|en", False)]
    assert not (load_config(project).export_dir() / "en").exists()


def test_stale_lists_only_the_domains_and_languages_asked_for(config_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COSMO_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert cli.main(["stale", "--domains", "beta", "--languages", "en"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in listed[:-1]} == {"beta|en", "en"}
    assert len(listed) == 8 and listed[0].split()[:3] == ["beta|en", "seeds", "missing"]  # five stages of beta|en, two of the release, the total
    assert listed[-1].startswith("2 of 2 partitions missing or stale")
    with pytest.raises(SystemExit, match=r"unknown domains \['gamma'\]; configured: \['alpha', 'beta'\]"):
        cli.main(["stale", "--domains", "gamma"])
