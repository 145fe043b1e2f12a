"""The LLM client against real OpenAI-compatible HTTP servers on 127.0.0.1: bounds, retries, cache, budgets,
structured output, routing and preflight."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from cosmo_assets.config import BudgetSettings, EndpointSettings, ModelSettings
from cosmo_assets.llm.budget import DiskLedger
from cosmo_assets.llm.cache import CachedAnswer, DiskCache
from cosmo_assets.llm.client import CompletionRequest, LLMClient, PreflightError, open_client, preflight
from cosmo_assets.llm.structured import json_schema_format
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, default_reply, status


def requests(n: int, start: int = 0) -> list[CompletionRequest]:
    return [
        CompletionRequest(key=f"r{i}", messages=({"role": "user", "content": f"prompt number {i}"},))
        for i in range(start, start + n)
    ]


def settings_for(server: FakeLLMServer, **overrides) -> ModelSettings:
    values = {"model": "openai/test-model", "api_base": server.api_base, "timeout_s": 2, "retry_backoff_s": 0.05}
    return ModelSettings(**{**values, **overrides})


def client_for(server: FakeLLMServer, tmp_path: Path, **overrides) -> LLMClient:
    settings = settings_for(server, **overrides)
    preflight(settings)
    cache = DiskCache(tmp_path / "cache.sqlite") if settings.cache.backend == "disk" else None
    return LLMClient(settings, cache=cache)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")


def test_keeps_the_configured_number_of_requests_in_flight(tmp_path):
    with FakeLLMServer(delay_s=0.3) as server:
        report = client_for(server, tmp_path, max_in_flight=4).complete_all(requests(12))
    assert server.max_in_flight == 4
    results = report.completions
    assert [r.key for r in results] == [f"r{i}" for i in range(12)]
    assert all(r.status == "ok" and r.text for r in results)
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 and r.attempts == 1 for r in results)
    assert report.model_calls == server.requests == 12
    assert server.auth_headers[0] == "Bearer test-key-not-secret"


def test_transient_errors_are_retried_and_retry_after_is_honoured(tmp_path):
    seen: dict[str, list[float]] = {}
    lock = threading.Lock()

    def flaky(prompt: str):
        with lock:
            seen.setdefault(prompt, []).append(time.monotonic())
            tries = len(seen[prompt])
        if tries > 1:
            return default_reply(prompt)
        return status(429, retry_after="1") if prompt.endswith("0") else status(503)

    with FakeLLMServer(behaviour=flaky) as server:
        report = client_for(server, tmp_path, retry_backoff_s=0).complete_all(requests(3))
    assert all(r.status == "ok" and r.attempts == 2 for r in report.completions)
    assert server.requests == report.model_calls == 6
    # Without Retry-After the retry was immediate (backoff 0); with it, the client waited what the server asked.
    first, second = seen["prompt number 0"]
    assert second - first >= 1.0


def test_a_request_the_server_refuses_is_recorded_failed_with_its_error(tmp_path):
    with FakeLLMServer(behaviour=lambda p: 400 if "number 1" in p else default_reply(p)) as server:
        client = client_for(server, tmp_path)
        results = client.complete_all(requests(3)).completions
    failed = [r for r in results if r.status != "ok"]
    assert [r.key for r in failed] == ["r1"]
    assert failed[0].text is None and "injected 400" in failed[0].error and failed[0].attempts == 1
    assert "HTTP 400" in failed[0].error
    assert "test-key-not-secret" not in repr(client.endpoint)


def test_answers_are_cached_so_a_second_run_makes_no_calls(tmp_path):
    with FakeLLMServer() as server:
        first = client_for(server, tmp_path).complete_all(requests(5))
        second = client_for(server, tmp_path).complete_all(requests(5))
        changed = client_for(server, tmp_path, temperature=0.2).complete_all(requests(5))
    assert server.requests == 10  # the first run, and the run whose temperature changed
    assert [c.cache_hit for c in second.completions] == [True] * 5 and second.model_calls == 0
    assert [c.text for c in second.completions] == [c.text for c in first.completions]
    assert [c.completion_tokens for c in second.completions] == [c.completion_tokens for c in first.completions]
    assert all(c.attempts == 0 for c in second.completions)
    assert not any(c.cache_hit for c in changed.completions)


def test_identical_requests_in_one_batch_make_one_call(tmp_path):
    same = ({"role": "user", "content": "the same prompt"},)
    batch = [CompletionRequest(key=f"d{i}", messages=same) for i in range(3)]
    with FakeLLMServer() as server:
        report = client_for(server, tmp_path).complete_all(batch)
    assert server.requests == 1
    assert [c.key for c in report.completions] == ["d0", "d1", "d2"]
    assert len({c.text for c in report.completions}) == 1 and all(c.status == "ok" for c in report.completions)


def _write_answers(path: str, worker: int, n: int) -> None:
    cache = DiskCache(path)
    for i in range(n):
        cache.put(f"shared-{i}", CachedAnswer(text=f"shared {i}"))  # every process writes these keys
        cache.put(f"w{worker}-{i}", CachedAnswer(text=f"worker {worker} answer {i}", completion_tokens=i))
    cache.close()


def test_the_disk_cache_takes_writes_from_several_processes_at_once(tmp_path):
    path = str(tmp_path / "cache.sqlite")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_answers, args=(path, w, 150)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    cache = DiskCache(path)
    assert len(cache) == 150 + 3 * 150
    found = cache.get_many([f"w{w}-{i}" for w in range(3) for i in range(150)])
    assert found["w2-149"] == CachedAnswer(text="worker 2 answer 149", completion_tokens=149)
    assert len(found) == 450


def test_a_partition_budget_stops_generation_and_keeps_what_was_made(tmp_path):
    with FakeLLMServer() as server:
        # max_tokens above the fake's answers (about 200 words), so the server keeps to it as real ones do.
        budget = BudgetSettings(partition={"max_tokens": 700})
        report = client_for(server, tmp_path, max_in_flight=2, max_tokens=400, budget=budget).complete_all(requests(20))
    ok = [c for c in report.completions if c.status == "ok"]
    skipped = [c for c in report.completions if c.status == "skipped_budget"]
    assert ok and skipped and len(ok) + len(skipped) == 20
    assert len(ok) == server.requests == report.model_calls
    assert report.budget_stop and "partition budget reached" in report.budget_stop and "max_tokens 700" in report.budget_stop
    assert all("budget reached" in c.error and c.attempts == 0 for c in skipped)
    assert report.spent_tokens == sum(c.prompt_tokens + c.completion_tokens for c in ok) <= 700


def test_a_run_budget_is_shared_through_the_ledger(tmp_path):
    ledger = DiskLedger(tmp_path / "spend.sqlite")
    with FakeLLMServer() as server:
        settings = settings_for(server, max_in_flight=1, max_tokens=50, budget=BudgetSettings(run={"max_tokens": 1000}))
        first = LLMClient(settings, ledger=ledger, run_scope="run-1").complete_all(requests(3))
        second = LLMClient(settings, ledger=ledger, run_scope="run-1").complete_all(requests(30, start=3))
        other_run = LLMClient(settings, ledger=ledger, run_scope="run-2").complete_all(requests(1, start=99))
    spent_first = sum(c.paid_tokens for c in first.completions)
    assert [c.status for c in first.completions] == ["ok"] * 3
    assert second.budget_stop and "run budget reached" in second.budget_stop
    assert ledger.total("run-1").tokens == spent_first + second.spent_tokens
    assert 0 < second.count("ok") < 30 and ledger.total("run-1").tokens <= 1000
    assert other_run.count("ok") == 1  # another run has its own budget


class Plan(BaseModel):
    title: str
    sections: list[str]


def test_structured_output_is_parsed_and_a_bad_answer_is_recorded_clearly(tmp_path):
    def answer(prompt: str):
        if "number 0" in prompt:
            return '{"title": "Rivers", "sections": ["Source", "Mouth"]}'
        if "number 1" in prompt:
            return '{"title": "Rivers", "sections": ["Source"'  # cut off
        return '{"title": "Rivers"}'  # JSON, but not the schema

    fmt = json_schema_format("article_plan", Plan)
    batch = [CompletionRequest(key=r.key, messages=r.messages, response_format=fmt) for r in requests(3)]
    with FakeLLMServer(behaviour=answer) as server:
        report = client_for(server, tmp_path).complete_all(batch)
        again = client_for(server, tmp_path).complete_all(batch)
    assert server.bodies[0]["response_format"]["json_schema"]["name"] == "article_plan"
    good, cut, wrong = report.completions
    assert good.status == "ok" and good.parsed == {"title": "Rivers", "sections": ["Source", "Mouth"]}
    assert cut.status == "failed" and cut.error.startswith("unparseable answer: expected JSON following schema 'article_plan'")
    assert "not JSON" in cut.error and cut.text.startswith('{"title"')
    assert wrong.status == "failed" and "does not follow schema 'article_plan'" in wrong.error and "'sections' is a required property" in wrong.error
    # The good answer comes from the cache and parses again; the bad ones are asked again.
    assert again.completions[0].cache_hit and again.completions[0].parsed == good.parsed
    assert server.requests == 5


def test_several_endpoints_are_balanced_by_the_router_and_a_dead_one_is_worked_around(tmp_path, monkeypatch):
    monkeypatch.setenv("SECOND_REPLICA_KEY", "second-replica-key")
    with FakeLLMServer(models=["test-model"]) as a, FakeLLMServer(models=["test-model"]) as b, \
            FakeLLMServer(behaviour=lambda p: 500, models=["test-model"]) as dead:
        settings = ModelSettings(
            model="openai/test-model",
            endpoints=[EndpointSettings(api_base=a.api_base), EndpointSettings(api_base=b.api_base, api_key_env="SECOND_REPLICA_KEY"),
                       EndpointSettings(api_base=dead.api_base)],
            timeout_s=2, retry_backoff_s=0.05, max_in_flight=4, cache={"backend": "off"},
        )
        with open_client(settings, tmp_path / "c.sqlite", tmp_path / "s.sqlite") as client:
            report = client.complete_all(requests(24))
    assert report.count("ok") == 24
    assert a.requests > 0 and b.requests > 0
    assert a.requests + b.requests == 24  # every request answered once, whichever replica took it
    assert set(b.auth_headers) == {"Bearer second-replica-key"}


def test_fallbacks_answer_when_every_endpoint_fails(tmp_path):
    with FakeLLMServer(behaviour=lambda p: 503) as down, FakeLLMServer(models=["backup-model"]) as backup:
        settings = ModelSettings(
            model="openai/test-model", api_base=down.api_base,
            fallbacks=[EndpointSettings(model="openai/backup-model", api_base=backup.api_base)],
            timeout_s=2, retry_backoff_s=0.05, max_in_flight=2, cache={"backend": "off"},
        )
        with open_client(settings, tmp_path / "c.sqlite", tmp_path / "s.sqlite") as client:
            report = client.complete_all(requests(4))
    assert report.count("ok") == 4 and backup.requests == 4 and down.requests >= 4


def test_preflight_fails_fast_on_a_wrong_model_name_an_unreachable_server_or_a_missing_key(monkeypatch):
    with FakeLLMServer(models=["test-model", "other-model"]) as server:
        preflight(ModelSettings(model="openai/test-model", api_base=server.api_base))
        with pytest.raises(PreflightError, match=r"wrong model name: .* does not serve 'test-modle'.*it serves: other-model, test-model"):
            preflight(ModelSettings(model="openai/test-modle", api_base=server.api_base))
        assert server.requests == 0  # no prompt was sent, only the model list asked for
    with pytest.raises(PreflightError, match="wrong model name: litellm does not know the model 'nosuchprovider/x'"):
        preflight(ModelSettings(model="nosuchprovider/x", api_base="http://127.0.0.1:9/v1"))
    with pytest.raises(PreflightError, match=r"model endpoint unreachable: http://127.0.0.1:9/v1 \(ConnectError\)"):
        preflight(ModelSettings(model="openai/test-model", api_base="http://127.0.0.1:9/v1"))
    monkeypatch.delenv("COSMO_LLM_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(PreflightError, match="missing key for openai/test-model: set OPENAI_API_KEY or COSMO_LLM_API_KEY"):
        preflight(ModelSettings(model="openai/test-model", api_base="http://127.0.0.1:9/v1"))
    # One replica down is the Router's to work around; all of them down is not.
    with FakeLLMServer(models=["m"]) as up:
        preflight(ModelSettings(model="hosted_vllm/m", endpoints=[{"api_base": "http://127.0.0.1:9/v1"}, {"api_base": up.api_base}]))
    with pytest.raises(PreflightError, match="model endpoint unreachable"):
        preflight(ModelSettings(model="hosted_vllm/m", endpoints=[{"api_base": "http://127.0.0.1:9/v1"}, {"api_base": "http://127.0.0.1:7/v1"}]))
    with pytest.raises(PreflightError, match="endpoints.1.api_key_env names NOT_SET_KEY, which is not set"):
        preflight(ModelSettings(model="hosted_vllm/m", endpoints=[{"api_base": "http://127.0.0.1:9/v1"},
                                                                  {"api_base": "http://127.0.0.1:9/v1", "api_key_env": "NOT_SET_KEY"}]))


@pytest.fixture
def redis_url(monkeypatch):
    """A Redis-protocol server on 127.0.0.1 (fakeredis's TCP server), reached by the real redis client."""
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"redis://127.0.0.1:{server.server_address[1]}/0"
    monkeypatch.setenv("COSMO_REDIS_URL", url)
    yield url
    server.shutdown()
    server.server_close()


def test_the_redis_cache_and_ledger_are_shared_between_clients(tmp_path, redis_url):
    with FakeLLMServer() as server:
        settings = settings_for(server, cache={"backend": "redis"}, budget=BudgetSettings(run={"max_usd": 5}))
        # Two "machines": separate clients with separate local folders, one Redis.
        with open_client(settings, tmp_path / "a" / "c.sqlite", tmp_path / "a" / "s.sqlite", run_scope="run-1") as one:
            first = one.complete_all(requests(4))
        with open_client(settings, tmp_path / "b" / "c.sqlite", tmp_path / "b" / "s.sqlite", run_scope="run-1") as two:
            second = two.complete_all(requests(6))
    assert first.count("ok") == 4 and second.cache_hits == 4 and second.model_calls == 2
    assert server.requests == 6
    assert not (tmp_path / "a" / "c.sqlite").exists()  # nothing on local disk: the cache is Redis
    import redis

    ledger = redis.Redis.from_url(redis_url).hgetall("cosmo-llm:spend:run-1")
    assert int(ledger[b"calls"]) == 6


def test_a_redis_cache_without_its_url_is_a_clear_error(tmp_path, monkeypatch):
    from cosmo_assets.llm.cache import CacheError

    monkeypatch.delenv("COSMO_REDIS_URL", raising=False)
    with FakeLLMServer() as server:
        settings = settings_for(server, cache={"backend": "redis"})
        with pytest.raises(CacheError, match="cache.backend is 'redis' but COSMO_REDIS_URL is not set"):
            with open_client(settings, tmp_path / "c.sqlite", tmp_path / "s.sqlite"):
                pass
