"""An OpenAI-compatible chat server on 127.0.0.1 for tests: real HTTP, with counters and injectable faults."""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    """What `behaviour` may return instead of text: an HTTP error (with Retry-After), a hang, a broken body,
    or a connection closed without an answer."""

    kind: str  # "status", "hang", "malformed" or "drop"
    status: int = 500
    retry_after: str | None = None
    hang_s: float = 30.0
    echo_auth: bool = False  # quote the Authorization header back in the error, as some servers do


@dataclass(frozen=True)
class Reply:
    """What `behaviour` may return to set the finish reason: 'length' is a draft cut at max_tokens."""

    text: str
    finish_reason: str = "stop"


def status(code: int, retry_after: str | None = None, echo_auth: bool = False) -> Fault:
    return Fault("status", status=code, retry_after=retry_after, echo_auth=echo_auth)


HANG = Fault("hang")
MALFORMED = Fault("malformed")
DROP = Fault("drop")

SENTENCES = [
    "Rivers shape the land they cross, carving valleys over thousands of years.",
    "Water gathers in the hills and runs downhill toward the sea.",
    "Along the way a river carries sand and silt, which settle where the current slows.",
    "Farmers have long settled near rivers because the floods leave fertile soil behind.",
    "Cities grew at river crossings, where traders met and goods changed hands.",
    "Engineers build dams to store water, control floods and make electricity.",
    "A delta forms where a river meets still water and drops its load of sediment.",
    "Scientists measure a river's flow in cubic metres of water per second.",
    "Fish, birds and plants depend on the seasonal rise and fall of the water.",
    "Pollution upstream can harm every community that lives further down the river.",
    "Maps of old river courses help geologists understand how landscapes change.",
    "Many languages name their great rivers with words that simply mean water.",
]


def _plan(prompt: str) -> tuple[list[str], list[str], bool]:
    """What the prompt asks for: its sections in order, the facts to state (each a phrase: "born on 7 November
    1867"), and whether steps are numbered."""
    facts = re.findall(r"^\s*- (.+)$", prompt, flags=re.M)
    numbered_plan = re.findall(r"^\d+\. (.+)$", prompt, flags=re.M)  # "Follow this outline in order"
    plan = re.search(r"in this order: (.+?)\.?$", prompt, flags=re.M)
    if numbered_plan:
        sections = [s.strip() for s in numbered_plan]
    else:
        sections = [s.strip() for s in plan.group(1).split(",")] if plan else ["Overview", "Details"]
    return sections, facts, "number the steps" in prompt.lower()


def _article(prompt: str, sections: list[str], facts, numbered: bool, bodies: list[str]) -> str:
    title = re.search(r"“(.+?)”", prompt)
    paragraphs = [f"This article is about {title.group(1) if title else ' '.join(prompt.split()[:6])}."]
    for i, section in enumerate(sections):
        stated = " ".join(f"Worth knowing: {fact.strip().rstrip('.')}." for fact in facts[i::len(sections)])
        body = f"{section}: {bodies[i]}" + (f" {stated}" if stated else "")
        paragraphs.append(f"{i + 1}. {body}" if numbered else body)
    return "\n\n".join(paragraphs)


def default_reply(prompt: str) -> str:
    """What a good model would write: long enough, free of repetition, in the planned sections, stating the
    prompt's facts, numbered when asked for steps, and different per prompt (no near duplicates)."""
    sections, facts, numbered = _plan(prompt)
    start = sum(map(ord, prompt)) % len(SENTENCES)
    sentences = SENTENCES[start:] + SENTENCES[:start]
    per_section = max(3, -(-len(SENTENCES) // len(sections)))
    bodies = [" ".join(sentences[(i * per_section + k) % len(sentences)] for k in range(per_section))
              for i in range(len(sections))]
    return _article(prompt, sections, facts, numbered, bodies)


_NOUNS = """river mountain valley forest desert ocean island city village harbour bridge tower castle market
library school garden field orchard meadow glacier volcano canyon plateau coast delta lake stream spring
engine machine clock lamp telescope compass map ship train wagon bicycle kite printer loom mill furnace""".split()
_VERBS = "shapes guides carries protects measures reveals connects changes supports explains records feeds".split()
_ADJECTIVES = "old quiet busy distant narrow bright ancient gentle steep famous hidden careful patient curious".split()


def varied_reply(prompt: str) -> str:
    """A different article for every prompt (seeded by it): no two replies are near-duplicates, so
    runs with many seeds keep their articles through deduplication. Keeps the prompt's sections and
    facts, so it passes the default filters."""
    rng = random.Random(hashlib.sha256(prompt.encode()).hexdigest())
    sections, facts, numbered = _plan(prompt)

    def sentence() -> str:
        a, b, c = rng.sample(_NOUNS, 3)
        return f"The {rng.choice(_ADJECTIVES)} {a} {rng.choice(_VERBS)} the {rng.choice(_ADJECTIVES)} {b} near every {c}."

    per_section = max(2, -(-14 // len(sections)))
    return _article(prompt, sections, facts, numbered, [" ".join(sentence() for _ in range(per_section)) for _ in sections])


def extract_reply(prompt: str) -> str:
    """A faithful model for a document seed (templates/document_extract.j2): the planned sections retell the
    quoted extract's sentences between them, with general remarks that state no figure or name."""
    quoted = re.search(r'"""\n(.+?)\n"""', prompt, flags=re.S).group(1)
    sentences = re.split(r"(?<=[.!?])\s+", quoted)
    sections = re.findall(r"^\d+\. (.+)$", prompt, flags=re.M)
    sections = sections if len(sections) > 1 else [*sections, "What it shows"]
    return "\n\n".join(
        f"{s}: " + " ".join(sentences[i::len(sections)]) + " " + " ".join(SENTENCES[(3 * i + k) % len(SENTENCES)] for k in range(3))
        for i, s in enumerate(sections))


class FakeLLMServer:
    """`behaviour(prompt)` may return text, a Reply (text and finish reason), an int HTTP status, or a Fault. `prompts` lists every
    request's prompt, `answered` those answered with a completion. With `models`, GET /v1/models lists them."""

    def __init__(
        self,
        delay_s: float = 0.0,
        behaviour: Callable[[str], str | int | Fault] = default_reply,
        models: Sequence[str] | None = None,
    ):
        self.delay_s = delay_s
        self.behaviour = behaviour
        self.models = models
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str] = []
        self.prompts: list[str] = []
        self.answered: list[str] = []
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self  # what the handler answers as
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that gave up is not a test failure
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Answers one request as the FakeLLMServer it belongs to (self.server.fake) says."""

    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeLLMServer:
        return self.server.fake

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        if self.fake.models is None or not self.path.rstrip("/").endswith("/models"):
            self._send(404, json.dumps({"error": {"message": "not found"}}))
            return
        self._send(200, json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in self.fake.models]}))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        prompt = body["messages"][-1]["content"]
        with self.fake._lock:
            self.fake.requests += 1
            self.fake.in_flight += 1
            self.fake.max_in_flight = max(self.fake.max_in_flight, self.fake.in_flight)
            self.fake.auth_headers.append(self.headers.get("Authorization", ""))
            self.fake.prompts.append(prompt)
            self.fake.bodies.append(body)
        try:
            time.sleep(self.fake.delay_s)
            outcome = self.fake.behaviour(prompt)
            if isinstance(outcome, int):
                outcome = status(outcome)
            if isinstance(outcome, Fault):
                self._fail(outcome)
                return
            finish = "stop"
            if isinstance(outcome, Reply):
                outcome, finish = outcome.text, outcome.finish_reason
            payload = json.dumps(_chat_completion(body, prompt, outcome, finish))
            self._send(200, payload)
            with self.fake._lock:
                self.fake.answered.append(prompt)
        finally:
            with self.fake._lock:
                self.fake.in_flight -= 1

    def _fail(self, fault: Fault):
        if fault.kind == "hang":
            self.fake._closing.wait(fault.hang_s)  # past the client's timeout; ends early when the server stops
            self.close_connection = True
        elif fault.kind == "drop":
            self.close_connection = True  # closed without a status line
        elif fault.kind == "malformed":
            self._send(200, '{"id": "chatcmpl-test", "choices": [{"message": {"content": "cut o')
        else:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            message = f"injected {fault.status}"
            if fault.echo_auth:
                message += f": Incorrect API key provided: {self.headers.get('Authorization', '')}"
            payload = json.dumps({"error": {"message": message, "type": "server_error"}})
            self._send(fault.status, payload, headers)

    def _send(self, status: int, payload: str, headers: dict[str, str] | None = None):
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _chat_completion(body: dict, prompt: str, text: str, finish_reason: str = "stop") -> dict:
    """An OpenAI chat completion answering `prompt` with `text`; tokens counted as words."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test"),
        "choices": [
            {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        },
    }
