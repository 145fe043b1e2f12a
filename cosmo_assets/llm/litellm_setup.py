"""litellm, imported on first use (it takes seconds: the Dagster definitions must load fast) and quietened."""

import logging


def load_litellm():
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # litellm logs every call at INFO; where the root logger is at INFO that costs CPU on each request.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm
