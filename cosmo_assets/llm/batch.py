"""Batch mode (`configs/model.yaml` mode: batch): a partition's uncached requests go to the provider's batch
API through litellm (an OpenAI-compatible files + batches endpoint: upload a JSONL file, create a batch,
poll it, read its output file), at the provider's batch price.

Each batch and the cache keys it carries are written to a SQLite file beside the spend ledger before it
is sent, under a key of ours that goes with it as its metadata, then under the provider's id the moment
the batch exists. A run killed while the provider works, or a re-run, polls that batch instead of paying
for it twice; one killed after the provider made the batch but before its id was written down finds it
by listing the provider's batches and adopts the one carrying its key (a batch never made is sent
again). Answers go to the response cache as the output file is read. Requests a batch did not answer
(it expired or was cancelled part-way) go out again in a new batch, up to `max_retries` times. Budgets
are checked before submitting: a request joins a batch only if its worst case (prompt plus max_tokens)
fits beside every request already in it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmo_assets.llm.budget import Budget
from cosmo_assets.llm.cache import CachedAnswer
from cosmo_assets.llm.completions import Completion, CompletionRequest
from cosmo_assets.llm.errors import status_of, transient
from cosmo_assets.llm.structured import UnparseableAnswer, parse_answer

STATUS_OK, STATUS_FAILED = "ok", "failed"
_FINISHED = {"completed", "expired", "cancelled", "failed"}
_KEY_FIELD = "cosmo_batch_key"  # the batch's metadata field holding our key for it
_LIST_PAGE = 100  # batches per listing request, the most OpenAI allows
_CLOCK_SKEW_S = 3600.0  # how far the provider's clock may lag ours when looking back for a batch
_CANNOT_LIST = (404, 405, 501)  # a provider without GET /v1/batches


@dataclass
class Submission:
    """A batch written down before it was sent, whose id its run never learnt."""

    batch_key: str
    started_at: float
    keys: set[str]


class BatchStore:
    """Batches and the cache keys each carries, in SQLite (several processes may share it): in
    `submissions` under our key from before the batch is sent, in `batches` under the provider's id
    from the moment it exists."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, model TEXT NOT NULL,"
                          " submitted_at REAL NOT NULL, state TEXT NOT NULL)")
        self._con.execute("CREATE TABLE IF NOT EXISTS batch_requests (batch_id TEXT NOT NULL, cache_key TEXT NOT NULL,"
                          " PRIMARY KEY (batch_id, cache_key))")
        self._con.execute("CREATE TABLE IF NOT EXISTS submissions (batch_key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                          " started_at REAL NOT NULL, cache_keys TEXT NOT NULL)")

    def submitting(self, model: str, keys: Sequence[str]) -> str:
        """Writes down a batch about to be sent; returns the key it is to carry."""
        batch_key = f"cosmo-{uuid.uuid4().hex}"
        with self._lock:
            self._con.execute("INSERT INTO submissions VALUES (?, ?, ?, ?)", (batch_key, model, time.time(), json.dumps(list(keys))))
        return batch_key

    def record(self, batch_key: str, batch_id: str, model: str, keys: Sequence[str]) -> None:
        """The provider made the batch: from now on it is known by its id."""
        with self._lock:
            self._con.execute("BEGIN")
            # OR IGNORE: another run may have adopted the same batch a moment before
            self._con.execute("INSERT OR IGNORE INTO batches VALUES (?, ?, ?, 'open')", (batch_id, model, time.time()))
            self._con.executemany("INSERT OR IGNORE INTO batch_requests VALUES (?, ?)", [(batch_id, k) for k in keys])
            self._con.execute("DELETE FROM submissions WHERE batch_key = ?", (batch_key,))
            self._con.execute("COMMIT")

    def forget(self, batch_key: str) -> None:
        """A submission the provider never received."""
        with self._lock:
            self._con.execute("DELETE FROM submissions WHERE batch_key = ?", (batch_key,))

    def submissions(self, model: str, keys: Sequence[str]) -> list[Submission]:
        """Batches for `model` written down before they were sent, never recorded since, carrying any of `keys`."""
        wanted = set(keys)
        with self._lock:
            rows = self._con.execute("SELECT batch_key, started_at, cache_keys FROM submissions WHERE model = ?",
                                     (model,)).fetchall()
        carried = [Submission(batch_key, started_at, set(json.loads(cache_keys))) for batch_key, started_at, cache_keys in rows]
        return [s for s in carried if s.keys & wanted]

    def open_batches(self, model: str, keys: Sequence[str]) -> dict[str, set[str]]:
        """Batches still open for `model` that carry any of `keys`, with the keys of those they carry."""
        wanted, found = set(keys), {}
        with self._lock:
            rows = self._con.execute(
                "SELECT r.batch_id, r.cache_key FROM batch_requests r JOIN batches b USING (batch_id) "
                "WHERE b.state = 'open' AND b.model = ?", (model,)).fetchall()
        for batch_id, key in rows:
            if key in wanted:
                found.setdefault(batch_id, set()).add(key)
        return found

    def close(self, batch_id: str, state: str) -> None:
        with self._lock:
            self._con.execute("UPDATE batches SET state = ? WHERE batch_id = ?", (state, batch_id))

    def shutdown(self) -> None:
        with self._lock:
            self._con.close()


@dataclass
class _Pending:
    batch_id: str
    keys: set[str]


class BatchRunner:
    """Sends one call of complete_many's uncached requests through batches; see the module's docstring."""

    def __init__(self, client: Any, store: BatchStore, requests: Sequence[CompletionRequest], keys: Sequence[str],
                 budget: Budget, finish: Callable[[int, Completion], None]):
        from cosmo_assets.llm.forecast import prices
        from cosmo_assets.llm.litellm_setup import load_litellm

        self.client, self.settings, self.store = client, client.settings, store
        self.requests, self.keys, self.budget, self.finish = requests, keys, budget, finish
        self.litellm = load_litellm()
        endpoint = client.endpoint
        self.served, _, _, _ = self.litellm.get_llm_provider(endpoint.model)
        self.access = {"custom_llm_provider": "openai", "api_base": endpoint.api_base, "api_key": endpoint.api_key}
        self.prices = prices(self.settings) or (0.0, 0.0)
        self.batches_created = 0
        self._done: set[int] = set()  # request indices already answered or failed here

    async def run(self, queue: deque[int]) -> None:
        """Answer the requests in `queue` (indices); those a budget leaves out stay in it."""
        index_of = {self.keys[i]: i for i in queue}
        pending = [_Pending(b, keys) for b, keys in self.store.open_batches(self.settings.model, list(index_of)).items()]
        pending += await self._adopt(self.store.submissions(self.settings.model, list(index_of)))
        resumed = set().union(*(p.keys for p in pending)) if pending else set()
        fresh = [i for i in queue if self.keys[i] not in resumed]
        admitted = self._within_budget(fresh)
        left = [i for i in fresh[len(admitted):]]
        queue.clear()
        queue.extend(left)
        pending += await self._submit(admitted)
        for round_ in range(self.settings.max_retries + 1):
            unanswered = await self._collect(pending, index_of)
            if not unanswered:
                return
            if round_ == self.settings.max_retries:
                break
            pending = await self._submit([index_of[k] for k in unanswered])
        for key in unanswered:
            self.finish(index_of[key], Completion(key=self.requests[index_of[key]].key, text=None, status=STATUS_FAILED,
                                                  error=f"no answer from {self.settings.max_retries + 1} batches"))

    def _within_budget(self, indices: list[int]) -> list[int]:
        if not self.budget.is_set:
            return indices
        usd = tokens = 0.0
        for n, i in enumerate(indices):
            need = self.client._worst_case(self.requests[i])
            blocked = self.budget.blocks(usd, tokens, *need)
            if blocked:
                self.budget.stop(blocked)
                return indices[:n]
            usd, tokens = usd + need[0], tokens + need[1]
        return indices

    async def _adopt(self, submissions: list[Submission]) -> list[_Pending]:
        """Batches a killed run sent but never recorded: found at the provider by the key each carries, and
        recorded now. A submission the provider never received is forgotten; its requests go out again."""
        if not submissions:
            return []
        try:
            made = await self._made_with({s.batch_key for s in submissions},
                                         since=min(s.started_at for s in submissions) - _CLOCK_SKEW_S)
        except Exception as exc:
            if status_of(exc) not in _CANNOT_LIST:
                raise
            made = {}  # a provider that cannot list its batches: what it may have made cannot be found
        adopted = []
        for s in submissions:
            if s.batch_key in made:
                self.store.record(s.batch_key, made[s.batch_key], self.settings.model, sorted(s.keys))
                adopted.append(_Pending(made[s.batch_key], s.keys))
            else:
                self.store.forget(s.batch_key)
        return adopted

    async def _made_with(self, batch_keys: set[str], since: float) -> dict[str, str]:
        """The provider's batches carrying `batch_keys` in their metadata, as {batch key: batch id}, looking
        back (the list is newest first) to the first batch made before `since`."""
        found: dict[str, str] = {}
        after = None
        while True:
            page = await self.litellm.alist_batches(after=after, limit=_LIST_PAGE, **self.access)
            for batch in page.data:
                batch_key = (batch.metadata or {}).get(_KEY_FIELD)
                if batch_key in batch_keys:
                    found.setdefault(batch_key, batch.id)
            if found.keys() == batch_keys or not page.has_more or not page.data or page.data[-1].created_at < since:
                return found
            after = page.data[-1].id

    async def _submit(self, indices: list[int]) -> list[_Pending]:
        made = []
        size = self.settings.batch.max_requests
        for start in range(0, len(indices), size):
            chunk = indices[start:start + size]
            keys = [self.keys[i] for i in chunk]
            batch_key = self.store.submitting(self.settings.model, keys)  # before sending: a killed run adopts it
            lines = [json.dumps({"custom_id": self.keys[i], "method": "POST", "url": "/v1/chat/completions",
                                 "body": self._body(self.requests[i])}, ensure_ascii=False) for i in chunk]
            data = ("\n".join(lines) + "\n").encode("utf-8")
            uploaded = await self.litellm.acreate_file(file=(f"{batch_key}.jsonl", data, "application/jsonl"),
                                                       purpose="batch", **self.access)
            batch = await self.litellm.acreate_batch(completion_window=self.settings.batch.completion_window,
                                                     endpoint="/v1/chat/completions", input_file_id=uploaded.id,
                                                     metadata={"made_by": "cosmo-assets", _KEY_FIELD: batch_key},
                                                     **self.access)
            self.store.record(batch_key, batch.id, self.settings.model, keys)  # before waiting: a killed run resumes it
            self.client.model_calls += 1
            self.batches_created += 1
            made.append(_Pending(batch.id, set(keys)))
        return made

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.served, "messages": list(request.messages), **self.settings.generation_params()}
        if request.response_format is not None:
            body["response_format"] = request.response_format
        return body

    async def _collect(self, pending: list[_Pending], index_of: dict[str, int]) -> set[str]:
        """Poll every pending batch until it finishes (or max_wait_s passes); read answers as each does.
        Returns the keys no finished batch answered."""
        unanswered: set[str] = set()
        wait, deadline = self.settings.batch.poll_s, time.monotonic() + self.settings.batch.max_wait_s
        while pending:
            still = []
            for p in pending:
                try:
                    batch = await self.litellm.aretrieve_batch(batch_id=p.batch_id, **self.access)
                except Exception as exc:  # noqa: BLE001 - a status check that failed is tried again at the next poll
                    if not transient(exc):
                        raise
                    still.append(p)
                    continue
                if batch.status not in _FINISHED:
                    still.append(p)
                    continue
                answered = await self._read(batch.output_file_id, index_of)
                await self._read_errors(batch.error_file_id, p.keys - answered, index_of)
                unanswered |= {k for k in p.keys - answered if k in index_of and not self._finished(k, index_of)}
                self.store.close(p.batch_id, batch.status)
            pending = still
            if pending:
                if time.monotonic() >= deadline:
                    for p in pending:  # still open with the provider: a re-run collects them
                        for key in p.keys & set(index_of):
                            self.finish(index_of[key], Completion(
                                key=self.requests[index_of[key]].key, text=None, status=STATUS_FAILED,
                                error=f"batch {p.batch_id} still running after {self.settings.batch.max_wait_s:g} s; "
                                      "a re-run collects its answers without paying again"))
                    return set()
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.settings.batch.max_poll_s)
        return unanswered

    def _finished(self, key: str, index_of: dict[str, int]) -> bool:
        return index_of[key] in self._done

    async def _lines(self, file_id: str | None) -> list[dict]:
        if not file_id:
            return []
        content = await self.litellm.afile_content(file_id=file_id, **self.access)
        text = content.content.decode("utf-8") if hasattr(content, "content") else str(content)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    async def _read(self, file_id: str | None, index_of: dict[str, int]) -> set[str]:
        answered = set()
        for line in await self._lines(file_id):
            key = line.get("custom_id")
            response = line.get("response") or {}
            if not key or response.get("status_code") != 200:
                continue
            answered.add(key)
            if key not in index_of:  # asked for by another run of the same prompts: paid for, so kept
                self._keep(key, response.get("body") or {})
            elif index_of[key] not in self._done:
                completion = self._completion(index_of[key], key, response.get("body") or {})
                self._done.add(index_of[key])
                self.finish(index_of[key], completion)
        return answered

    async def _read_errors(self, file_id: str | None, keys: set[str], index_of: dict[str, int]) -> None:
        for line in await self._lines(file_id):
            key = line.get("custom_id")
            if key in keys and key in index_of and index_of[key] not in self._done:
                error = line.get("error") or (line.get("response") or {}).get("body") or {}
                self._done.add(index_of[key])
                self.finish(index_of[key], Completion(key=self.requests[index_of[key]].key, text=None, status=STATUS_FAILED,
                                                      error=self.client._redact(f"batch error: {json.dumps(error)[:400]}"), attempts=1))

    def _keep(self, key: str, body: dict) -> None:
        try:
            text = (body["choices"][0]["message"].get("content") or "").strip()
        except (KeyError, IndexError, TypeError, AttributeError):
            return
        usage = body.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        if text:
            self.client.cache.put(key, CachedAnswer(text=text, prompt_tokens=prompt, completion_tokens=completion,
                                                    cost_usd=prompt * self.prices[0] + completion * self.prices[1]))

    def _completion(self, index: int, key: str, body: dict) -> Completion:
        request = self.requests[index]
        usage = body.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        try:
            choice = body["choices"][0]
            text = (choice["message"].get("content") or "").strip()
        except (KeyError, IndexError, TypeError, AttributeError):
            return Completion(key=request.key, text=None, status=STATUS_FAILED, error="batch answer has no message", attempts=1)
        cost = prompt * self.prices[0] + completion * self.prices[1]
        done = Completion(key=request.key, text=text or None, status=STATUS_OK if text else STATUS_FAILED,
                          error=None if text else "empty completion", prompt_tokens=prompt, completion_tokens=completion,
                          cost_usd=cost, attempts=1, finish_reason=choice.get("finish_reason"))
        if text and request.response_format is not None:
            try:
                done.parsed = parse_answer(text, request.response_format)
            except UnparseableAnswer as exc:
                done.status, done.error = STATUS_FAILED, self.client._redact(str(exc))[:500]
        if done.status == STATUS_OK:
            self.client.cache.put(key, CachedAnswer(text=text, prompt_tokens=prompt, completion_tokens=completion,
                                                    cost_usd=cost, finish_reason=done.finish_reason))
        return done
