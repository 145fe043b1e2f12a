"""The LLM client against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest

from cosmo_assets.config import ModelSettings
from cosmo_assets.llm.client import CompletionRequest, LLMClient, open_endpoint
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, default_reply


def requests(n: int) -> list[CompletionRequest]:
    return [CompletionRequest(key=f"r{i}", messages=({"role": "user", "content": f"prompt number {i}"},)) for i in range(n)]


def client_for(server: FakeLLMServer, **settings) -> tuple[LLMClient, ModelSettings]:
    model = ModelSettings(model="openai/test-model", api_base=server.api_base, timeout_s=10, **settings)
    with open_endpoint(model) as endpoint:
        return LLMClient(model, endpoint), model


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")


def test_keeps_the_configured_number_of_requests_in_flight():
    with FakeLLMServer(delay_s=0.3) as server:
        client, _ = client_for(server, max_in_flight=4)
        results = client.complete_all(requests(12))
    assert server.max_in_flight == 4
    assert [r.key for r in results] == [f"r{i}" for i in range(12)]
    assert all(r.status == "ok" and r.text for r in results)
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 and r.attempts == 1 for r in results)
    assert server.auth_headers[0] == "Bearer test-key-not-secret"


def test_transient_errors_are_retried():
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def flaky(prompt: str):
        with lock:
            seen[prompt] = seen.get(prompt, 0) + 1
            return 503 if seen[prompt] == 1 else default_reply(prompt)

    with FakeLLMServer(behaviour=flaky) as server:
        client, _ = client_for(server)
        results = client.complete_all(requests(3))
    assert all(r.status == "ok" and r.attempts == 2 for r in results)
    assert server.requests == 6


def test_a_request_the_server_refuses_is_recorded_failed_with_its_error():
    with FakeLLMServer(behaviour=lambda p: 400 if "number 1" in p else default_reply(p)) as server:
        client, _ = client_for(server)
        results = client.complete_all(requests(3))
    failed = [r for r in results if r.status != "ok"]
    assert [r.key for r in failed] == ["r1"]
    assert failed[0].text is None and "injected 400" in failed[0].error and failed[0].attempts == 1
    assert "test-key-not-secret" not in repr(client.endpoint)
