"""An OpenAI-compatible chat server for benchmarks: answers every request after a fixed delay, with no limit
on requests in parallel (asyncio), on 127.0.0.1. Run it in its own process so its CPU is not the client's:

    .venv/bin/python -m bench.openai_stub_server --delay 1.0      # prints "listening on PORT", then serves

With --max-concurrent N it rate-limits like a hosted provider: a request arriving while N are being
answered is refused with 429 and puts the key in a cool-down of --cooldown seconds, during which every
new request is refused too (Retry-After says how long is left). With --then-max-concurrent M the limit
becomes M after --change-after answers. POST /reset starts counting afresh, for the next measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import web

REPLY = " ".join(["Rivers carry water and sediment from the hills to the sea."] * 12)


def build_app(delay_s: float, limits: tuple[int, int | None, int] | None = None, cooldown_s: float = 1.0) -> web.Application:
    counts = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "answered": 0, "refused": 0, "cool_until": 0.0}

    def refusal() -> web.Response | None:
        if limits is None:
            return None
        first, then, change_after = limits
        limit = then if then is not None and counts["answered"] >= change_after else first
        now = time.monotonic()
        if now >= counts["cool_until"] and counts["in_flight"] < limit:
            return None
        if now >= counts["cool_until"]:
            counts["cool_until"] = now + cooldown_s
        counts["refused"] += 1
        wait = counts["cool_until"] - now
        return web.json_response({"error": {"message": "rate limit: too many requests in flight", "type": "rate_limit"}},
                                 status=429, headers={"Retry-After": f"{wait:.3f}", "retry-after-ms": str(int(wait * 1000))})

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        counts["requests"] += 1
        refused = refusal()
        if refused is not None:
            return refused
        counts["in_flight"] += 1
        counts["max_in_flight"] = max(counts["max_in_flight"], counts["in_flight"])
        try:
            await asyncio.sleep(delay_s)
        finally:
            counts["in_flight"] -= 1
        counts["answered"] += 1
        prompt = body["messages"][-1]["content"]
        return web.Response(
            content_type="application/json",
            text=json.dumps({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "bench-model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": REPLY}}],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 132,
                          "total_tokens": len(prompt.split()) + 132},
            }),
        )

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench-model", "object": "model"}]})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def reset(request: web.Request) -> web.Response:
        counts.update(requests=0, max_in_flight=0, answered=0, refused=0, cool_until=0.0)
        return web.json_response(counts)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


async def serve(delay_s: float, limits: tuple[int, int | None, int] | None = None, cooldown_s: float = 1.0) -> None:
    runner = web.AppRunner(build_app(delay_s, limits, cooldown_s), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    # Stop when the parent closes our stdin, so a benchmark that dies leaves no server behind.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds before each answer")
    parser.add_argument("--max-concurrent", type=int, help="refuse (429) a request over this many in flight")
    parser.add_argument("--then-max-concurrent", type=int, help="the limit after --change-after answers")
    parser.add_argument("--change-after", type=int, default=0)
    parser.add_argument("--cooldown", type=float, default=1.0, help="seconds every request is refused after an overload")
    args = parser.parse_args()
    limits = (args.max_concurrent, args.then_max_concurrent, args.change_after) if args.max_concurrent else None
    asyncio.run(serve(args.delay, limits, args.cooldown))
