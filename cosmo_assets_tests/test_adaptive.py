"""max_in_flight: auto against an OpenAI-compatible server on 127.0.0.1 that refuses (429) above a hidden
number of requests in flight: the limit backs off to what the server takes, honours Retry-After, and
every request is answered."""

from __future__ import annotations

import threading

import pytest

from cosmo_assets.config import AdaptiveSettings, ModelSettings
from cosmo_assets.llm.client import CompletionRequest, LLMClient, preflight
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, default_reply, status

HIDDEN_LIMIT = 4


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")


def test_auto_backs_off_to_the_servers_limit_and_loses_no_request():
    refusals: list[int] = []
    lock = threading.Lock()
    server = FakeLLMServer(delay_s=0.05)

    def limited(prompt: str):
        with lock:
            crowded = server.in_flight > HIDDEN_LIMIT
            if crowded:
                refusals.append(server.in_flight)
        return status(429, retry_after="0.1") if crowded else default_reply(prompt)

    server.behaviour = limited
    with server:
        settings = ModelSettings(model="openai/test-model", api_base=server.api_base, max_in_flight="auto",
                                 adaptive=AdaptiveSettings(min_in_flight=1, max_in_flight=32), max_retries=6,
                                 retry_backoff_s=0.05, timeout_s=5)
        preflight(settings)
        client = LLMClient(settings)
        report = client.complete_all([CompletionRequest(key=f"r{i}", messages=({"role": "user", "content": f"topic {i}"},))
                                      for i in range(120)])
    assert all(c.status == "ok" for c in report) and len(report) == 120  # nothing lost
    limiter = client.limiter
    assert refusals and limiter.decreases >= 1  # it found the limit by being refused, and backed off
    assert limiter.ceiling is not None and limiter.ceiling <= HIDDEN_LIMIT + 1
    assert int(limiter.limit) <= HIDDEN_LIMIT + 1  # where it settled: at most one probe above what the server takes
    assert len(refusals) < 30  # a fixed 32 in flight would be refused on most of its 120 first tries


def test_a_bad_max_in_flight_names_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_in_flight"):
        ModelSettings(max_in_flight="fast")
    with pytest.raises(ValidationError, match="min_in_flight 8 is above max_in_flight 2"):
        AdaptiveSettings(min_in_flight=8, max_in_flight=2)
