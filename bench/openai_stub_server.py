"""An OpenAI-compatible chat server for benchmarks: answers every request after a fixed delay, with no limit
on requests in parallel (asyncio), on 127.0.0.1. Run it in its own process so its CPU is not the client's:

    .venv/bin/python -m bench.openai_stub_server --delay 1.0      # prints "listening on PORT", then serves
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import web

REPLY = " ".join(["Rivers carry water and sediment from the hills to the sea."] * 12)


def build_app(delay_s: float) -> web.Application:
    counts = {"requests": 0, "in_flight": 0, "max_in_flight": 0}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        counts["requests"] += 1
        counts["in_flight"] += 1
        counts["max_in_flight"] = max(counts["max_in_flight"], counts["in_flight"])
        try:
            await asyncio.sleep(delay_s)
        finally:
            counts["in_flight"] -= 1
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

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


async def serve(delay_s: float) -> None:
    runner = web.AppRunner(build_app(delay_s), access_log=None)
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
    asyncio.run(serve(parser.parse_args().delay))
