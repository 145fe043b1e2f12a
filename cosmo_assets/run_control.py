"""How the main command runs its jobs so that Ctrl+C (or SIGTERM) stops it within seconds: each job
executes in a worker thread (Dagster then leaves the signal handlers alone), the main thread keeps
the signals. A first signal asks for a stop (cosmo_assets/interruption.py): no new model request and
no new stage, answers received stay in the cache, the run ends canceled. A second exits at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from cosmo_assets.interruption import request_stop, stop_requested

STOP_GRACE_S = 8.0  # after a stop is asked for, how long a run may take to wind down before we leave it
EXIT_INTERRUPTED = 130  # the shell's code for "ended by Ctrl+C"


def _on_signal(signum: int, _frame: Any) -> None:
    if stop_requested():
        print("\nstopped at once (second interrupt); answers received so far are in the response cache",
              file=sys.stderr, flush=True)
        os._exit(EXIT_INTERRUPTED)
    request_stop()
    name = signal.Signals(signum).name
    print(f"\n{name}: stopping - no new model request; answers received are kept. Press Ctrl+C again to exit at once.",
          file=sys.stderr, flush=True)


def install_stop_handlers() -> None:
    """Ctrl+C and SIGTERM ask for a stop instead of raising wherever the main thread happens to be."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def run_stoppably(work: Callable[[], Any], on_stop: Callable[[], bool] = lambda: True) -> tuple[bool, Any]:
    """Runs `work` in a worker thread, waiting for it while the main thread handles signals. Once a stop
    is asked for, `on_stop` is called until it returns True (it tells the run it is being canceled).
    Returns (finished, result): finished is False when the work was still going STOP_GRACE_S after the
    stop (the caller then leaves without it)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="cosmo-run", daemon=True)
    worker.start()
    deadline, told = None, False
    while worker.is_alive():
        worker.join(0.2)
        if stop_requested():
            deadline = deadline or time.monotonic() + STOP_GRACE_S
            told = told or on_stop()
            if time.monotonic() > deadline:
                return False, None
    if "error" in outcome:
        raise outcome["error"]
    return True, outcome.get("result")
