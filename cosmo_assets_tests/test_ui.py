"""The Dagster UI in a real browser: `dagster dev` started on 127.0.0.1 against a private instance, Chromium
from Debian's packages driven by Playwright. A user finds every stage in the asset graph, launches one
partition's materialisation and sees the run succeed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from playwright.sync_api import expect, sync_playwright

from cosmo_assets.config import PROJECT_ROOT, load_config
from cosmo_assets_tests.conftest import edit_yaml, instance_config, make_config_dir
from cosmo_assets_tests.fake_llm_server import FakeLLMServer

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); never `playwright install`
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STAGES = ["seeds", "outlines", "drafts", "filtered_articles", "balanced_dataset", "dataset_export"]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_webserver(base: str, server: subprocess.Popen, log: Path, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise AssertionError(f"dagster dev did not answer within {limit_s} s:\n{log.read_text()[-3000:]}")


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def runs_recorded(base: str, within_s: float) -> int:
    """How many runs the instance has, waiting up to `within_s` for the first."""
    deadline = time.monotonic() + within_s
    while True:
        runs = graphql(base, "{ runsOrError { ... on Runs { count } } }")["data"]["runsOrError"]["count"]
        if runs or time.monotonic() > deadline:
            return runs
        time.sleep(2)


def stop(server: subprocess.Popen) -> None:
    # dagster dev runs the webserver, the daemon and a code server as children: end the group it leads.
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@pytest.mark.starts_first
def test_the_ui_shows_every_stage_and_materialises_one_partition(tmp_path):
    assert CHROMIUM.is_file(), "Chromium is missing: `apt-get install -y chromium` (.ci/run installs it)"
    config_dir = make_config_dir(tmp_path)
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=2))
    home = instance_config(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)):
        pass  # create the instance's tables once, before the webserver and the daemon race to
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "dagster_dev.log"

    with FakeLLMServer() as model, log.open("w") as log_file:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("COSMO_", "DAGSTER_"))},
            "DAGSTER_HOME": str(home),
            "COSMO_CONFIG_DIR": str(config_dir),
            "COSMO_LLM_MODEL": "openai/test-model",
            "COSMO_LLM_API_BASE": model.api_base,
            "COSMO_LLM_API_KEY": "test-key-not-secret",
        }
        server = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_webserver(base, server, log)
            graphql(base, "mutation { setNuxSeen }")  # the community pop-up would cover the page
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch_persistent_context(
                    str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
                    args=CHROMIUM_ARGS, viewport={"width": 1600, "height": 1000},
                )
                page = browser.new_page()
                page.set_default_timeout(120_000)
                try:
                    # The asset graph: two groups, expanded (Alt+E) to show every stage.
                    page.goto(f"{base}/asset-groups")
                    expect(page.locator("[data-tooltip='generation']").first).to_be_visible()
                    page.mouse.click(1100, 300)
                    page.keyboard.press("Alt+KeyE")
                    for stage in STAGES:
                        expect(page.get_by_text(stage, exact=True).first).to_be_visible()
                    page.screenshot(path=str(tmp_path / "asset_graph.png"))

                    # One partition: the generate job's four stages for alpha x en. A launch the page drops
                    # (no run recorded a minute later) is clicked again, as a person would.
                    for _ in range(3):
                        page.goto(f"{base}/locations/cosmo_assets/jobs/generate")
                        page.get_by_role("button", name="Materialize all…").click()
                        dialog = page.get_by_role("dialog").first
                        for dimension_value in ("alpha", "en"):
                            dialog.get_by_text("Select a partition or create one").first.click()
                            page.locator("span").get_by_text(dimension_value, exact=True).last.click()
                            page.keyboard.press("Escape")
                        launch = page.get_by_role("button", name="Launch 1 run")
                        if launch.count():
                            launch.click()
                        if runs_recorded(base, within_s=60):
                            break

                    page.goto(f"{base}/runs")
                    expect(page.get_by_text("partition: alpha|en").first).to_be_visible(timeout=120_000)
                    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=600_000)
                    page.screenshot(path=str(tmp_path / "runs.png"))
                finally:
                    browser.close()
        finally:
            stop(server)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        launched = [r for r in instance.get_runs() if r.job_name == "generate"]
        assert [(r.tags.get("dagster/partition"), r.status) for r in launched] == [("alpha|en", dg.DagsterRunStatus.SUCCESS)]
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        assert con.execute("SELECT domain, language, count(*) FROM drafts GROUP BY ALL").fetchall() == [("alpha", "en", 2)]
    assert model.requests == 2
