"""Batch mode (model.yaml mode: batch) against an OpenAI-compatible files + batches server on 127.0.0.1:
answers at the batch price, into the cache as read; an expired batch's unanswered requests go out again;
a re-run resumes a submitted batch, even one whose id its maker never wrote down; budgets are checked
before submitting."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest

from cosmo_assets.config import BatchSettings, BudgetSettings, ModelSettings
from cosmo_assets.llm.batch import BatchStore
from cosmo_assets.llm.cache import DiskCache, cache_key
from cosmo_assets.llm.client import CompletionRequest, open_client
from cosmo_assets_tests.fake_batch_server import FakeBatchServer


def requests(n: int) -> list[CompletionRequest]:
    return [CompletionRequest(key=f"r{i}", messages=({"role": "user", "content": f"Write about subject number {i}."},))
            for i in range(n)]


def batch_settings(server: FakeBatchServer, **overrides) -> ModelSettings:
    values = {"model": "openai/gpt-4o-mini", "api_base": server.api_base, "mode": "batch", "max_tokens": 100,
              "batch": BatchSettings(poll_s=0.05, max_poll_s=0.1)}
    return ModelSettings(**{**values, **overrides})


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")


def run(settings: ModelSettings, tmp_path, n: int):
    with open_client(settings, tmp_path / "cache.sqlite", tmp_path / "spend.sqlite") as client:
        return client.complete_all(requests(n))


def test_a_batch_answers_every_request_at_the_batch_price_and_a_rerun_is_free(tmp_path):
    with FakeBatchServer() as server:
        report = run(batch_settings(server), tmp_path, 6)
        assert len(server.batches) == 1 and server.requests_in_batches == 6 and len(server.answered) == 6
        again = run(batch_settings(server), tmp_path, 6)
        assert len(server.batches) == 1  # every answer came from the cache
    assert [c.key for c in report] == [f"r{i}" for i in range(6)]
    assert all(c.status == "ok" and c.text and not c.cache_hit for c in report)
    for c in report:  # gpt-4o-mini: $0.15 / $0.60 per million tokens online, half in a batch
        assert c.cost_usd == pytest.approx(c.prompt_tokens * 0.075e-6 + c.completion_tokens * 0.30e-6)
        assert c.cost_usd > 0
    assert report.spent_usd == pytest.approx(sum(c.cost_usd for c in report))
    assert all(c.cache_hit for c in again) and again.spent_usd == 0
    assert len(DiskCache(tmp_path / "cache.sqlite")) == 6


def test_a_batch_that_expires_part_done_keeps_its_answers_and_sends_the_rest_again(tmp_path):
    with FakeBatchServer(per_poll=2, expire_after_polls=2) as server:
        report = run(batch_settings(server), tmp_path, 10)
        statuses = [b["status"] for b in server.batches.values()]
    assert statuses == ["expired", "expired", "completed"]  # 4 answered, then 4, then the last 2
    assert all(c.status == "ok" for c in report)
    assert sorted(server.answered) == sorted(r.messages[-1]["content"] for r in requests(10))  # each paid once
    assert [len(p["lines"]) for p in server.progress.values()] == [10, 6, 2]


def test_a_rerun_collects_a_batch_submitted_before_instead_of_paying_again(tmp_path):
    with FakeBatchServer() as server:
        server.hold.set()  # the provider is slow: the first run stops waiting
        first = run(batch_settings(server, batch=BatchSettings(poll_s=0.05, max_poll_s=0.1, max_wait_s=0.3)), tmp_path, 5)
        assert all(c.status == "failed" and "still running" in c.error and "re-run" in c.error for c in first)
        server.hold.clear()
        second = run(batch_settings(server), tmp_path, 5)
        assert len(server.batches) == 1 and len(server.answered) == 5  # the same batch, answered once
    assert all(c.status == "ok" for c in second)


def test_a_budget_is_checked_before_submitting(tmp_path):
    budget = BudgetSettings(partition={"max_tokens": 350})  # each request may take 100 completion tokens
    with FakeBatchServer() as server:
        report = run(batch_settings(server, budget=budget), tmp_path, 8)
        submitted = server.requests_in_batches
    ok = [c for c in report if c.status == "ok"]
    skipped = [c for c in report if c.status == "skipped_budget"]
    assert 1 <= submitted == len(ok) <= 3 and len(ok) + len(skipped) == 8
    assert all("partition budget reached" in c.error for c in skipped)
    assert report.budget_stop and report.spent_tokens <= 350


def _run_in_child(settings: ModelSettings, tmp_path) -> None:
    run(settings, tmp_path, 5)


def _remembered_batches(tmp_path) -> int:
    """Batches the run wrote down as submitted (llm_batches.sqlite beside the spend ledger)."""
    path = tmp_path / "llm_batches.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as con:
            return con.execute("SELECT count(*) FROM batches").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not made yet
        return 0


def test_a_run_killed_while_its_batch_runs_is_resumed_by_the_next_run_without_paying_again(tmp_path, monkeypatch):
    with FakeBatchServer() as server:
        server.hold.set()
        child = multiprocessing.get_context("fork").Process(target=_run_in_child, args=(batch_settings(server), tmp_path))
        child.start()
        deadline = time.monotonic() + 120
        # Killed once its batch is submitted and written down (the moment a run waits on it for hours).
        while not (server.batches and _remembered_batches(tmp_path)):
            assert child.is_alive() and time.monotonic() < deadline, "the run should have submitted its batch"
            time.sleep(0.05)
        child.kill()
        child.join(30)
        server.hold.clear()
        report = run(batch_settings(server), tmp_path, 5)
        assert len(server.batches) == 1 and len(server.files) == 2  # the input file and the one output file
    assert all(c.status == "ok" for c in report) and len(server.answered) == 5


def _written_down(tmp_path) -> list[str]:
    with sqlite3.connect(tmp_path / "llm_batches.sqlite", timeout=5) as con:
        return [batch_id for (batch_id,) in con.execute("SELECT batch_id FROM batches")]


def test_a_run_killed_after_its_batch_was_made_but_before_its_id_was_written_down_is_adopted_not_paid_twice(tmp_path):
    with FakeBatchServer() as server:
        server.stall_create.set()  # the provider makes the batch; its id never reaches the run
        child = multiprocessing.get_context("fork").Process(target=_run_in_child, args=(batch_settings(server), tmp_path))
        child.start()
        deadline = time.monotonic() + 120
        while not server.batches:
            assert child.is_alive() and time.monotonic() < deadline, "the run should have created its batch"
            time.sleep(0.05)
        child.kill()  # SIGKILL, inside the window
        child.join(30)
        assert _remembered_batches(tmp_path) == 0
        server.stall_create.clear()
        report = run(batch_settings(server), tmp_path, 5)
        made, answered = list(server.batches), list(server.answered)
    assert len(made) == 1 and _written_down(tmp_path) == made  # the re-run adopted the batch the killed run made
    assert all(c.status == "ok" for c in report)
    assert sorted(answered) == sorted(r.messages[-1]["content"] for r in requests(5))  # each request paid once
    assert len(DiskCache(tmp_path / "cache.sqlite")) == 5


@pytest.mark.parametrize("lists_batches", [True, False])
def test_a_batch_written_down_but_never_made_is_sent_again(tmp_path, lists_batches):
    with FakeBatchServer(lists_batches=lists_batches) as server:
        settings = batch_settings(server)
        store = BatchStore(tmp_path / "llm_batches.sqlite")  # a run died before its batch reached the provider
        store.submitting(settings.model, [cache_key(settings.answer_identity(), r.messages) for r in requests(5)])
        store.shutdown()
        report = run(settings, tmp_path, 5)
        assert len(server.batches) == 1 and server.requests_in_batches == 5 and server.listed == int(lists_batches)
    assert all(c.status == "ok" for c in report)
    with sqlite3.connect(tmp_path / "llm_batches.sqlite") as con:
        assert con.execute("SELECT count(*) FROM submissions").fetchone() == (0,)
