"""B1 throughput: 2,000 prompts at 64 in flight against an OpenAI-compatible server that answers after a fixed
1.0 s, through the code path the `drafts` stage uses (draft_requests -> open_client -> complete_all with the
progress logger and the disk cache -> draft_rows), compared with the ideal rate (in flight / delay) and with a
bare `litellm.acompletion` + semaphore loop measured in the same run. Also prints client CPU ms per request.

    .venv/bin/python -m bench.b1_throughput                 # about 2.5 minutes
    .venv/bin/python -m bench.b1_throughput --prompts 500 --rounds 1 --profile

The server runs in its own process, so the CPU figures are the client's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import polars as pl  # noqa: E402

from cosmo_assets.config import ModelSettings  # noqa: E402
from cosmo_assets.ids import content_hash  # noqa: E402
from cosmo_assets.llm.client import open_client  # noqa: E402
from cosmo_assets.stages.drafts import draft_requests, draft_rows  # noqa: E402

PROMPT = (
    "Write an encyclopedia entry about {title} for high-school students, in a clear and engaging style. "
    "Cover these sections in order: Overview, History, Key facts, Legacy. Use these facts: discovered in {year}; "
    "studied by researchers in {place}; known for its role in {field}. Write about 600 words in plain prose."
)


@contextmanager
def stub_server(delay_s: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.openai_stub_server", "--delay", str(delay_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the stub server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[-1])}/v1"
    finally:
        proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def outlines(n: int, tag: str) -> pl.DataFrame:
    rows = []
    for i in range(n):
        prompt = PROMPT.format(title=f"Subject {tag}-{i}", year=1800 + i % 200, place=f"City {i % 37}", field=f"field {i % 11}")
        rows.append({"outline_id": f"o-{tag}-{i}", "seed_id": f"s-{tag}-{i}", "domain": "science", "language": "en",
                     "prompt": prompt, "prompt_hash": content_hash(prompt)})
    return pl.DataFrame(rows)


def settings_for(api_base: str, in_flight: int) -> ModelSettings:
    return ModelSettings(model="openai/bench-model", api_base=api_base, max_in_flight=in_flight, timeout_s=60)


async def bare_loop(frame: pl.DataFrame, settings: ModelSettings) -> int:
    import litellm

    gate = asyncio.Semaphore(settings.in_flight)

    async def one(prompt: str):
        async with gate:
            return await litellm.acompletion(
                model=settings.model, api_base=settings.api_base, api_key=os.environ["COSMO_LLM_API_KEY"],
                messages=[{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": prompt}],
                timeout=settings.timeout_s, num_retries=0, max_retries=0, **settings.generation_params(),
            )

    responses = await asyncio.gather(*(one(p) for p in frame["prompt"]))
    return sum(1 for r in responses if r.choices[0].message.content)


def drafts_path(frame: pl.DataFrame, settings: ModelSettings, workdir: Path) -> int:
    from cosmo_assets.defs.generation.drafts import DraftProgress as _Progress  # the drafts asset's progress logger, logging every 10 s

    logger = logging.getLogger("bench.drafts")
    with open_client(settings, workdir / "llm_cache.sqlite", workdir / "llm_spend.sqlite", run_scope="bench") as client:
        requests = draft_requests(frame, settings)
        progress = _Progress(SimpleNamespace(log=logger), len(requests))
        report = client.complete_all(requests, on_done=progress.update)
    rows = draft_rows(frame, report.completions, settings)
    return rows.filter(pl.col("status") == "ok").height


def measure(fn, *args) -> tuple[int, float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ok = fn(*args)
    return ok, time.perf_counter() - wall0, time.process_time() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating bare/drafts rounds; figures add them up")
    parser.add_argument("--profile", action="store_true", help="profile the drafts path's CPU and print the top entries")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):  # litellm's per-call INFO lines, for both loops
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("COSMO_LLM_API_KEY", "bench-key")

    totals = {"bare": [0, 0.0, 0.0], "drafts": [0, 0.0, 0.0]}
    with stub_server(args.delay) as api_base, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(api_base, args.in_flight)
        # Warm-up: imports, clients and connections, on prompts the timed rounds do not use.
        asyncio.run(bare_loop(outlines(args.in_flight, "warm-bare"), settings))
        drafts_path(outlines(args.in_flight, "warm-drafts"), settings, Path(tmp) / "warm")
        for r in range(args.rounds):
            for name in ("bare", "drafts"):
                frame = outlines(args.prompts, f"{name}{r}")
                if name == "bare":
                    ok, wall, cpu = measure(lambda f: asyncio.run(bare_loop(f, settings)), frame)
                elif args.profile:
                    profiler = cProfile.Profile()
                    ok, wall, cpu = measure(profiler.runcall, drafts_path, frame, settings, Path(tmp) / f"r{r}")
                else:
                    ok, wall, cpu = measure(drafts_path, frame, settings, Path(tmp) / f"r{r}")
                if ok != args.prompts:
                    print(f"{name}: only {ok} of {args.prompts} requests succeeded", file=sys.stderr)
                    return 1
                print(f"round {r + 1} {name:6s}: {ok / wall:6.1f} req/s, wall {wall:5.1f} s, "
                      f"client CPU {1000 * cpu / ok:.2f} ms/request", flush=True)
                for i, v in enumerate((ok, wall, cpu)):
                    totals[name][i] += v

    ideal = args.in_flight / args.delay
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    cpu_ms = {k: 1000 * v[2] / v[0] for k, v in totals.items()}
    print(f"\nB1 throughput: {args.prompts} prompts x {args.rounds} rounds, {args.in_flight} in flight, "
          f"server answers after {args.delay} s")
    print(f"  ideal rate                  {ideal:6.1f} req/s")
    print(f"  bare litellm + semaphore    {rate['bare']:6.1f} req/s, client CPU {cpu_ms['bare']:.2f} ms/request")
    print(f"  drafts path                 {rate['drafts']:6.1f} req/s, client CPU {cpu_ms['drafts']:.2f} ms/request")
    print(f"  drafts path / ideal         {rate['drafts'] / ideal:.3f}  (target >= 0.85)")
    print(f"  drafts path / bare loop     {rate['drafts'] / rate['bare']:.3f}  (target >= 0.95)")
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print("\nwhere the drafts path's CPU goes (last round, by own time):\n" + out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
