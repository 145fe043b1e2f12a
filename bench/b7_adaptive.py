"""B7 adaptive concurrency: `max_in_flight: auto` against servers that rate-limit above a hidden number of
requests in flight, compared in the same run with fixed settings a user might pick (the hidden limit among
them). Two servers: one whose limit stays put, one whose limit changes half-way. Each answer takes
--delay s; a request over the limit gets 429 and a cool-down of --cooldown s during which every new
request is refused (Retry-After says how long), as providers that count refused requests do. Requests
go through the drafts stage's path (draft_requests -> open_client -> complete_all, disk cache).

    .venv/bin/python -m bench.b7_adaptive            # about 6 minutes
    .venv/bin/python -m bench.b7_adaptive --prompts 200 --fixed 8,64

Targets: adaptive >= 0.85 of the best fixed setting's throughput, >= 2x the too-high fixed setting (the
largest), and no request lost (every one answered).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import polars as pl  # noqa: E402

from bench.b1_throughput import outlines  # noqa: E402
from cosmo_assets.config import AdaptiveSettings, ModelSettings  # noqa: E402
from cosmo_assets.llm.client import open_client  # noqa: E402
from cosmo_assets.stages.drafts import draft_requests, draft_rows  # noqa: E402


@contextmanager
def limited_server(delay_s: float, cooldown_s: float, limit: int, then: int | None, change_after: int) -> Iterator[str]:
    command = [sys.executable, "-m", "bench.openai_stub_server", "--delay", str(delay_s), "--cooldown", str(cooldown_s),
               "--max-concurrent", str(limit)]
    if then is not None:
        command += ["--then-max-concurrent", str(then), "--change-after", str(change_after)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the stub server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[-1])}"
    finally:
        proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def server_call(root: str, path: str, method: str = "GET") -> dict:
    with urllib.request.urlopen(urllib.request.Request(root + path, method=method, data=b"" if method == "POST" else None)) as r:
        return json.loads(r.read())


def measure(root: str, frame: pl.DataFrame, in_flight: int | str, workdir: Path) -> dict:
    settings = ModelSettings(model="openai/bench-model", api_base=f"{root}/v1", max_in_flight=in_flight, timeout_s=60,
                             adaptive=AdaptiveSettings(min_in_flight=1, max_in_flight=64), max_retries=8,
                             retry_backoff_s=0.2, max_retry_wait_s=10)
    server_call(root, "/reset", "POST")
    started = time.perf_counter()
    with open_client(settings, workdir / "llm_cache.sqlite", workdir / "llm_spend.sqlite", run_scope="bench") as client:
        report = client.complete_all(draft_requests(frame, settings))
        limit = client.limiter.describe()
    wall = time.perf_counter() - started
    rows = draft_rows(frame, report.completions, settings)
    ok = rows.filter(pl.col("status") == "ok").height
    stats = server_call(root, "/stats")
    return {"setting": str(in_flight), "ok": ok, "lost": frame.height - ok, "wall": wall, "rate": ok / wall,
            "refused": stats["refused"], "calls": report.model_calls, "limit": limit}


def run_server(label: str, args, limit: int, then: int | None, fixed: list[int], tmp: Path) -> tuple[dict, list[dict]]:
    print(f"\n{label}", flush=True)
    results = []
    with limited_server(args.delay, args.cooldown, limit, then, args.prompts // 2) as root:
        measure(root, outlines(4, f"{label[:6]}-warm"), 2, tmp / f"{label[:6]}-warm")  # imports and connections
        for i, setting in enumerate([*fixed, "auto"]):
            result = measure(root, outlines(args.prompts, f"{label[:6]}-{i}"), setting, tmp / f"{label[:6]}-{i}")
            results.append(result)
            print(f"  max_in_flight {result['setting']:>4}: {result['rate']:6.1f} req/s, wall {result['wall']:5.1f} s, "
                  f"lost {result['lost']}, 429s {result['refused']}, calls {result['calls']}"
                  + (f", limit {result['limit']}" if setting == "auto" else ""), flush=True)
    return results[-1], results[:-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=800, help="requests per measurement")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the server takes per answer")
    parser.add_argument("--cooldown", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=12, help="the hidden limit of the steady server")
    parser.add_argument("--change", default="20,8", help="the changing server's limit before,after half the answers")
    parser.add_argument("--fixed", help="fixed max_in_flight settings to compare, the last too high "
                        "(default: 8, each hidden limit, 64)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("COSMO_LLM_API_KEY", "bench-key")
    before, after = (int(x) for x in args.change.split(","))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        servers = [(f"steady server: hidden limit {args.limit}", args.limit, None),
                   (f"changing server: hidden limit {before}, then {after} after {args.prompts // 2} answers", before, after)]
        summary = []
        for label, limit, then in servers:
            sweep = sorted({8, limit, then or limit}) + [64]
            if args.fixed:
                sweep = [int(x) for x in args.fixed.split(",")]
            adaptive, fixed = run_server(label, args, limit, then, sweep, Path(tmp))
            best = max(fixed, key=lambda r: r["rate"])
            too_high = fixed[-1]
            summary.append((label, adaptive, best, too_high))
    print(f"\nB7 adaptive concurrency: {args.prompts} requests per measurement, {args.delay} s per answer, "
          f"{args.cooldown} s cool-down after an overload")
    for label, adaptive, best, too_high in summary:
        vs_best, vs_high = adaptive["rate"] / best["rate"], adaptive["rate"] / too_high["rate"]
        print(f"  {label}")
        print(f"    adaptive / best fixed ({best['setting']})     {vs_best:.3f}  (target >= 0.85)")
        print(f"    adaptive / too-high fixed ({too_high['setting']}) {vs_high:.2f}   (target >= 2)")
        print(f"    requests lost by adaptive          {adaptive['lost']}      (target 0; too-high fixed lost {too_high['lost']})")
        failed |= vs_best < 0.85 or vs_high < 2 or adaptive["lost"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
