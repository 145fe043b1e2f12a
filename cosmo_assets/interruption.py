"""A stop asked for by the user (Ctrl+C or SIGTERM on the main command): work that is long and paid for
(model requests) checks it and ends cleanly, keeping what it already has. Plain Python, no Dagster."""

from __future__ import annotations

import threading

_STOP = threading.Event()


class Interrupted(Exception):  # noqa: N818 - the user's word for it
    """Raised by work that stopped because a stop was asked for; what it finished is kept."""


def request_stop() -> None:
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear_stop() -> None:
    _STOP.clear()


def raise_if_stopped(where: str) -> None:
    if _STOP.is_set():
        raise Interrupted(f"stopped before {where}: a stop was asked for")


async def wait_for_stop(poll_s: float = 0.2) -> None:
    """Returns once a stop is asked for (an asyncio task to race against the work)."""
    import asyncio

    while not _STOP.is_set():
        await asyncio.sleep(poll_s)
