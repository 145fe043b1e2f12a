"""A failed step or check ends the main command with what failed, where and why, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cosmo_assets_tests.fake_llm_server import FakeLLMServer


def test_a_failed_check_and_a_failed_step_are_reported_in_words_and_the_command_exits_1(config_dir, tmp_path):
    kb = config_dir / "knowledge_base" / "tiny_kb.jsonl"
    clean_kb = kb.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in clean_kb.splitlines() if line.strip()]
    for row in rows[2:]:
        row["topic_type"] = "wizard"  # not a topic type: these rows are quarantined
    kb.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    corpus = config_dir / "real_text" / "tiny_real.jsonl"
    with corpus.open("a", encoding="utf-8") as f:  # a row the release refuses: no text
        f.write(json.dumps({"id": "blank", "domain": "alpha", "text": ""}) + "\n")
    blank_line = len(corpus.read_text(encoding="utf-8").splitlines())
    with FakeLLMServer() as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COSMO_")},
            "COSMO_CONFIG_DIR": str(config_dir),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "COSMO_LLM_MODEL": "openai/test-model",
            "COSMO_LLM_API_BASE": server.api_base,
            "COSMO_LLM_API_KEY": "test-key-not-secret",
        }
        command = [sys.executable, "-m", "cosmo_assets", "run", "--domains", "alpha", "--seeds", "4"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        out = result.stdout
        assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
        assert "Traceback" not in out + result.stderr and "Stack Trace" not in out + result.stderr
        assert "FAILED: generate alpha|en" in out
        assert "check seeds_contract on seeds failed in partition alpha|en:" in out
        assert ("- ERROR quarantined share of knowledge-base rows is at most 5% (seeds.yaml max_bad_share): observed bad_share 0.5, "
                "quarantined 2, reasons unknown_topic_type 2, rows_read 4; expected polars: count(seed_quarantine) / rows read "
                "<= max_bad_share = 0.05") in out
        assert server.requests == 0  # the check blocked the drafts
        # No release from a failed generation: said, not attempted.
        assert "release en not made: generation failed for alpha|en" in out
        assert "failed runs:\n  generate alpha|en" in result.stderr

        # With the knowledge base mended, the release fails on the real-text row before balanced_dataset
        # exists: said in words, and the summary still prints (it used to end in "CatalogException: Table
        # with name balanced_dataset does not exist!").
        kb.write_text(clean_kb, encoding="utf-8")
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in out + result.stderr and "Stack Trace" not in out + result.stderr
    assert "FAILED: release en" in out
    assert (f"step real_text failed in partition en: RealTextError: {corpus}:{blank_line}: field 'text': "
            "expected non-empty text, got ''") in out
    assert "finished in" in out
    assert "failed runs:\n  release en (run" in result.stderr
