"""An OpenAI-compatible files + batches server on 127.0.0.1 for tests: real HTTP, answering a batch's
requests a few per status check, able to expire a batch with part of its requests done, and to create a
batch without its creator ever hearing back."""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cosmo_assets_tests.fake_llm_server import default_reply


class FakeBatchServer:
    """`per_poll`: requests answered per status check. `expire_after_polls`: checks after which a batch
    expires with only what was answered so far. `hold`: while set, batches stay in progress.
    `stall_create`: while set, a batch is created but its creator gets no answer until it is cleared, and
    then none at all (the connection closes), as when a run dies between the two. `lists_batches`: False
    for a provider without GET /v1/batches."""

    def __init__(self, behaviour: Callable[[str], str] = default_reply, per_poll: int = 1000,
                 expire_after_polls: int | None = None, lists_batches: bool = True):
        self.behaviour, self.per_poll, self.expire_after_polls = behaviour, per_poll, expire_after_polls
        self.lists_batches = lists_batches
        self.hold = threading.Event()
        self.stall_create = threading.Event()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.progress: dict[str, dict] = {}
        self.answered: list[str] = []  # prompts answered, across batches
        self.polls = 0
        self.listed = 0  # pages of batches listed
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/files"):
                    self._json(server._upload(self.headers["Content-Type"], body))
                elif self.path.endswith("/batches"):
                    stalled = server.stall_create.is_set()
                    batch = server._create(json.loads(body))
                    while server.stall_create.is_set():
                        time.sleep(0.02)
                    if stalled:  # the batch exists; its creator never hears so
                        self.close_connection = True
                        return
                    self._json(batch)
                else:
                    self._json({"error": {"message": "not found"}}, 404)

            def do_GET(self):
                url = urlsplit(self.path)
                parts = url.path.rstrip("/").split("/")
                if parts[-1] == "batches" and server.lists_batches:
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    self._json(server._list(query.get("after"), int(query.get("limit", 20))))
                elif "batches" in parts and parts[-1] in server.batches:
                    self._json(server._poll(parts[-1]))
                elif parts[-1] == "content" and parts[-2] in server.files:
                    self._send(200, server.files[parts[-2]], "application/octet-stream")
                elif parts[-1] in server.files:
                    self._json(server._file_object(parts[-1]))
                else:
                    self._json({"error": {"message": "not found"}}, 404)

            def _json(self, payload, status: int = 200):
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests_in_batches(self) -> int:
        return sum(len(p["lines"]) for p in self.progress.values())

    def __enter__(self) -> FakeBatchServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- endpoints ---------------------------------------------------------------------------

    def _file_object(self, file_id: str) -> dict:
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": int(time.time()),
                "filename": f"{file_id}.jsonl", "purpose": "batch", "status": "processed"}

    def _store(self, data: bytes) -> str:
        with self._lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = data
        return file_id

    def _upload(self, content_type: str, body: bytes) -> dict:
        message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        data = next(part.get_payload(decode=True) for part in message.get_payload()
                    if 'name="file"' in (part.get("Content-Disposition") or ""))
        return self._file_object(self._store(data))

    def _create(self, request: dict) -> dict:
        lines = [json.loads(line) for line in self.files[request["input_file_id"]].decode().splitlines() if line.strip()]
        with self._lock:
            batch_id = f"batch-{next(self._ids)}"
            self.progress[batch_id] = {"lines": lines, "done": [], "polls": 0}
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                "input_file_id": request["input_file_id"], "completion_window": request["completion_window"],
                "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0}, "metadata": request.get("metadata"),
            }
            return dict(self.batches[batch_id])

    def _list(self, after: str | None, limit: int) -> dict:
        """Newest first, `limit` at a time after the batch `after`, as OpenAI pages them."""
        with self._lock:
            self.listed += 1
            newest_first = [dict(b) for b in reversed(self.batches.values())]
        ids = [b["id"] for b in newest_first]
        start = 0 if after is None else ids.index(after) + 1 if after in ids else len(ids)
        page = newest_first[start:start + limit]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": start + limit < len(ids)}

    def _poll(self, batch_id: str) -> dict:
        with self._lock:
            self.polls += 1
            batch, progress = self.batches[batch_id], self.progress[batch_id]
            if batch["status"] in ("completed", "expired") or self.hold.is_set():
                return dict(batch)
            progress["polls"] += 1
            batch["status"] = "in_progress"
            todo = progress["lines"][len(progress["done"]):][: self.per_poll]
            for line in todo:
                progress["done"].append(self._answer(line))
            expired = self.expire_after_polls is not None and progress["polls"] >= self.expire_after_polls
            if len(progress["done"]) == len(progress["lines"]) or expired:
                batch["status"] = "completed" if len(progress["done"]) == len(progress["lines"]) else "expired"
                output = "".join(json.dumps(d) + "\n" for d in progress["done"]).encode()
                batch["output_file_id"] = self._store_locked(output)
            batch["request_counts"]["completed"] = len(progress["done"])
            return dict(batch)

    def _store_locked(self, data: bytes) -> str:
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        return file_id

    def _answer(self, line: dict) -> dict:
        prompt = line["body"]["messages"][-1]["content"]
        text = self.behaviour(prompt)
        self.answered.append(prompt)
        body = {
            "id": f"chatcmpl-{line['custom_id'][:8]}", "object": "chat.completion", "created": int(time.time()),
            "model": line["body"]["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        }
        return {"id": f"req-{line['custom_id'][:8]}", "custom_id": line["custom_id"],
                "response": {"status_code": 200, "request_id": "r", "body": body}, "error": None}
