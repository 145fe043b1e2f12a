"""The generation plan (`python -m cosmo_assets plan`, the generation_plan asset) against runs on a fake model
on 127.0.0.1 whose answers have known lengths: the forecast makes no model call and lands near the tokens
the run then pays for."""

from __future__ import annotations

import duckdb
import pytest

from cosmo_assets.config import load_config
from cosmo_assets.stages.plan import plan_generation
from cosmo_assets_tests.conftest import edit_yaml, main_env, materialization, run_generate, science_project
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, varied_reply


@pytest.fixture
def project(config_dir, monkeypatch):
    """The generation tests' project: domain alpha on a bigger knowledge base."""
    return science_project(config_dir, monkeypatch)


ALPHA = [("alpha", "en")]


def paid_tokens(config_dir) -> tuple[int, int]:
    """Tokens of the drafts paid for (not from the cache), and how many came from the cache."""
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        tokens, hits = con.execute(
            "SELECT sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cache_hit), count(*) FILTER (WHERE cache_hit) "
            "FROM drafts WHERE domain = 'alpha'"
        ).fetchone()
    return int(tokens or 0), int(hits)


def test_the_forecast_makes_no_model_call_and_lands_within_a_quarter_of_the_tokens_paid(project, tmp_path):
    with FakeLLMServer(behaviour=varied_reply) as server:
        assert run_generate(project, tmp_path, seeds=4, api_base=server.api_base).success  # history for this model
        config = load_config(project)
        calls_before = server.requests
        forecast = plan_generation(config, ALPHA, seed_limit=12)
        assert server.requests == calls_before  # planning asks the model nothing
        [alpha] = forecast.partitions
        result = run_generate(project, tmp_path, seeds=12, api_base=server.api_base)
        assert result.success
    actual_tokens, cache_hits = paid_tokens(project)
    assert alpha.outlines == 12 and alpha.cached == cache_hits and alpha.to_draft == 12 - cache_hits > 0
    assert abs(alpha.tokens - actual_tokens) <= 0.25 * actual_tokens, (alpha, actual_tokens)
    assert "tokens from" in forecast.basis[0] and "earlier drafts" in forecast.basis[0]
    # The drafts asset shows its own forecast beside what it took.
    shown = materialization(result, "drafts")["forecast"]
    assert shown["to_draft"] == alpha.to_draft and shown["actual_tokens"] == actual_tokens
    assert abs(shown["tokens"] - actual_tokens) <= 0.25 * actual_tokens


def test_without_history_answers_are_expected_at_a_share_of_max_tokens_and_budgets_say_where_they_stop(project):
    edit_yaml(project / "model.yaml", lambda m: m.update(
        max_tokens=400, price={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 4.0},
        budget={"run": {"max_usd": None, "max_tokens": None}, "partition": {"max_usd": None, "max_tokens": 2000}}))
    forecast = plan_generation(load_config(project), ALPHA, seed_limit=6)
    [alpha] = forecast.partitions
    assert alpha.to_draft == 6 and alpha.cached == 0
    assert alpha.completion_tokens == 6 * 240  # 0.6 x max_tokens each
    assert alpha.usd == pytest.approx(alpha.prompt_tokens * 1e-6 + alpha.completion_tokens * 4e-6)
    assert alpha.budget_stop.startswith("partition budget max_tokens 2,000 stops it after ")
    assert 0 < int(alpha.budget_stop.split("after ")[1].split()[0]) < 6 < alpha.tokens / 2000 * 6
    assert "0.6 x max_tokens (400)" in forecast.basis[0] and "configs/model.yaml price" in forecast.basis[1]


def test_the_plan_command_prints_the_forecast(project, tmp_path, monkeypatch, capsys):
    from cosmo_assets.cli import main

    monkeypatch.setenv("COSMO_CONFIG_DIR", str(project))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["plan", "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert "generation plan: openai/test-model, mode online, 8 in flight (no model call made)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if "|en" in line or line.startswith("total")}
    assert set(rows) == {"alpha|en", "beta|en", "total"}
    assert rows["alpha|en"][1:4] == ["3", "0", "3"] and rows["total"][1:4] == ["6", "0", "6"]


def test_the_main_command_shows_the_plan_first_and_the_forecast_against_actual_after(project, tmp_path, monkeypatch, capsys):
    from cosmo_assets.cli import main

    with FakeLLMServer(behaviour=varied_reply) as server:
        for name, value in main_env(project, tmp_path, server.api_base).items():
            if name.startswith("COSMO_") or name == "DAGSTER_HOME":
                monkeypatch.setenv(name, value)
        assert main(["run", "--seeds", "3", "--domains", "alpha"]) == 0
    out = capsys.readouterr().out
    assert out.index("generation plan: openai/test-model") < out.index("-> generate") < out.index("forecast against actual:")
    actual, _ = paid_tokens(project)
    [line] = [line for line in out.splitlines() if line.strip().startswith("[alpha|en] drafts paid")]
    assert line.strip().startswith(f"[alpha|en] drafts paid 3 (forecast 3); tokens {actual:,} against ")
