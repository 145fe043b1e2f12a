"""B2 embedded: tokens/s of the `drafts` path on the embedded model (SmolLM2 on llama.cpp, reached over HTTP
through litellm, with the cache and progress logger) against a direct xllamacpp loop (the same server object
called in-process from one thread per slot) with the same prompts, parameters and slots, in the same run.
Each side starts its own server, so both pay the same start-up. Also checks that parallel slots batch:
tokens/s with every slot busy against one request at a time.

    .venv/bin/python -m bench.b2_embedded              # about 3 minutes on an idle 2-core machine
    .venv/bin/python -m bench.b2_embedded --prompts 8 --max-tokens 64 --rounds 1
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from cosmo_assets.config import ModelSettings, load_config
from cosmo_assets.llm.client import LLMClient, open_client
from cosmo_assets.llm.embedded import SERVED_NAME, server_params
from cosmo_assets.stages.drafts import draft_requests, draft_rows
from cosmo_assets.stages.outlines import build_outlines
from cosmo_assets.stages.seeds import build_seeds


def drafts_path(outlines, settings: ModelSettings, workdir: Path) -> int:
    from cosmo_assets.defs.generation.drafts import DraftProgress as _Progress  # the drafts asset's progress logger

    with open_client(settings, workdir / "llm_cache.sqlite", workdir / "llm_spend.sqlite", run_scope="bench") as client:
        requests = draft_requests(outlines, settings)
        progress = _Progress(SimpleNamespace(log=logging.getLogger("bench.drafts")), len(requests))
        report = client.complete_all(requests, on_done=progress.update)
    rows = draft_rows(outlines, report.completions, settings)
    assert rows.filter(rows["status"] != "ok").height == 0, rows.filter(rows["status"] != "ok")["error"].to_list()
    return int(rows["completion_tokens"].sum())


def direct_loop(outlines, settings: ModelSettings) -> int:
    import xllamacpp

    server = xllamacpp.Server(server_params(settings.embedded))
    try:
        bodies = [
            {"model": SERVED_NAME, **settings.generation_params(),
             "messages": [{"role": r["role"], "content": r["content"]} for r in request.messages]}
            for request in draft_requests(outlines, settings)
        ]
        with ThreadPoolExecutor(settings.in_flight) as pool:
            answers = list(pool.map(server.handle_chat_completions, bodies))
    finally:
        del server
    return sum(int(a["usage"]["completion_tokens"]) for a in answers)


def batching(outlines, settings: ModelSettings) -> tuple[float, float]:
    """tokens/s with every slot busy, and with one request at a time (cache off, same server)."""
    rates = []
    for in_flight in (settings.embedded.n_parallel, 1):
        tuned = settings.model_copy(update={"max_in_flight": in_flight, "cache": {"backend": "off"}})
        with LLMClient(tuned) as client:
            client.complete_all(draft_requests(outlines.head(1), tuned))  # start the server outside the timing
            started = time.perf_counter()
            report = client.complete_all(draft_requests(outlines, tuned))
            rates.append(sum(c.completion_tokens for c in report.completions) / (time.perf_counter() - started))
    return rates[0], rates[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: configs/model.yaml)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating direct/drafts rounds; figures add them up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    config = load_config()
    embedded = config.model.embedded.model_copy(update={"n_threads": args.threads or config.model.embedded.n_threads})
    settings = ModelSettings(max_tokens=args.max_tokens, embedded=embedded)  # the embedded default model
    seeds = build_seeds(config, "science", "en", args.prompts)
    outlines = build_outlines(config, seeds)

    from cosmo_assets.llm.litellm_setup import load_litellm as _litellm

    _litellm()  # import litellm before timing: a run pays it once per process, not per partition
    totals = {"direct": [0, 0.0], "drafts": [0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in ("direct", "drafts"):
                started = time.perf_counter()
                tokens = direct_loop(outlines, settings) if name == "direct" else drafts_path(outlines, settings, Path(tmp) / f"r{r}")
                wall = time.perf_counter() - started
                print(f"round {r + 1} {name:6s}: {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} tokens/s", flush=True)
                totals[name][0] += tokens
                totals[name][1] += wall
        busy, single = batching(outlines.head(settings.embedded.n_parallel), settings.model_copy(update={"max_tokens": 64}))

    rate = {k: v[0] / v[1] for k, v in totals.items()}
    print(f"\nB2 embedded: {args.prompts} prompts x {args.rounds} rounds, max_tokens {args.max_tokens}, "
          f"{settings.embedded.n_parallel} slots, {settings.embedded.n_threads} llama.cpp threads")
    print(f"  direct xllamacpp loop       {rate['direct']:6.1f} tokens/s")
    print(f"  drafts path                 {rate['drafts']:6.1f} tokens/s")
    print(f"  drafts path / direct loop   {rate['drafts'] / rate['direct']:.3f}  (target >= 0.9)")
    print(f"  continuous batching: {settings.embedded.n_parallel} in flight {busy:.1f} tokens/s, 1 in flight "
          f"{single:.1f} tokens/s: x{busy / single:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
