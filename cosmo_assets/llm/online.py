"""Online generation: answers requested straight from the model, `in_flight` at a time, within the
budget's ceilings (a call starts only if its worst case fits beside those in flight)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from cosmo_assets.interruption import stop_requested

if TYPE_CHECKING:
    from collections import deque

    from cosmo_assets.llm.budget import Budget


async def run_online(client, requests, keys, queue: deque[int], followers, budget: Budget, finish) -> None:
    from cosmo_assets.llm.client import STATUS_OK, _until_stopped  # the client imports this module

    # One writer thread: SQLite takes one write at a time anyway, and the loop never waits on a disk.
    client._cache_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cosmo-cache-writer")
    _ = client.endpoint  # start the embedded server or build the router now, not inside a worker
    reserved: dict[int, tuple[float, float]] = {}  # calls in flight -> the most each can spend
    answered = asyncio.Condition()
    answers = 0

    async def worker() -> None:
        nonlocal answers
        while queue and budget.stop_reason is None and not stop_requested():
            index = queue[0]
            if budget.is_set:
                need = client._worst_case(requests[index])
                blocked = budget.blocks(sum(u for u, _ in reserved.values()), sum(t for _, t in reserved.values()), *need)
                if blocked:
                    if not reserved:
                        budget.stop(blocked)
                        break
                    seen = answers
                    async with answered:  # an answer frees its reservation and shows its real spend
                        await answered.wait_for(lambda: answers != seen)  # noqa: B023 - awaited in this iteration
                    continue
                reserved[index] = need
            queue.popleft()
            try:
                completion = await client._call(requests[index], keys[index])
            finally:
                reserved.pop(index, None)
            if completion.paid_tokens or completion.paid_usd:
                budget.record(completion.paid_usd, completion.paid_tokens)
                client._learn_from(requests[index], completion)
            finish(index, completion)
            for other in followers.get(keys[index], ()):
                shared = completion.status == STATUS_OK
                finish(other, replace(completion, key=requests[other].key, attempts=0, cache_hit=shared))
            if budget.is_set:  # only budgets wait for answers
                answers += 1
                async with answered:
                    answered.notify_all()

    try:
        await _until_stopped(asyncio.gather(*(worker() for _ in range(min(client.in_flight, len(queue))))))
    finally:
        client._cache_writer.shutdown(wait=True)  # answers received are in the cache before this returns
