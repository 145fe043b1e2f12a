"""How many model calls may be in flight: a fixed number, or `auto`, a limit that adapts to the server.

`auto` is additive increase, multiplicative decrease (AIMD) between configured bounds. The limit is
judged once per window, a window being as many answers as the limit (about one round trip at full
use). A window with no overload and latency near the best seen raises the limit; a 429 or a timeout
halves it at once, remembers where the server refused (its ceiling), and pauses every new call for
the Retry-After the server asked for, since calls sent meanwhile would be refused and, at most
providers, counted against the limit anyway.

Growth depends on what is known: before the first refusal the limit doubles per window (slow start);
below a known ceiling it closes half the gap per window, so it is back near the ceiling in a few
round trips; at the ceiling it holds for a while before probing one above, and each refused probe
quadruples that wait (up to a cap), so a stable server is probed rarely. A probe that passes the ceiling
unrefused means the server's limit rose: the ceiling is dropped and the step doubles per window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# A window's mean latency within this factor of the best window's counts as holding; above it the limit stops growing.
_LATENCY_TOLERANCE = 1.5
# Windows to hold at a known ceiling before probing it: the first wait, and the most it grows to (x4 per
# refused probe). Each refused probe costs a Retry-After pause and a climb back, so probes must be rare.
_HOLD_WINDOWS, _MAX_HOLD_WINDOWS = 16, 256


class FixedLimit:
    """A fixed number of calls in flight, which the client's worker count already enforces."""

    def __init__(self, limit: int):
        self.limit = limit
        self.lowest = self.highest = limit
        self.decreases = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[_Outcome]:
        yield _Outcome()  # nobody reads it: the worker count is the limit

    def describe(self) -> str:
        return str(self.limit)


class _Outcome:
    """What one call tells the limiter: overloaded (with the wait the server asked for), or its latency."""

    __slots__ = ("overloaded", "retry_after_s", "latency_s", "crowd")

    def __init__(self, crowd: int = 0) -> None:
        self.crowd = crowd  # calls in flight when it started, itself included
        self.overloaded = False
        self.retry_after_s: float | None = None
        self.latency_s: float | None = None

    def overload(self, retry_after_s: float | None) -> None:
        self.overloaded, self.retry_after_s = True, retry_after_s



class AdaptiveLimit:
    """AIMD limit on calls in flight; `slot()` waits for room, the call reports how it went."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high
        self.limit = float(low)
        self.lowest = self.highest = low
        self.decreases = 0
        self.in_flight = 0
        self.ceiling: float | None = None  # where the server last refused
        self._step = 1.0  # growth per window above a ceiling that has been passed
        self._hold = _HOLD_WINDOWS
        self._held = 0
        self._best_latency: float | None = None
        self._window_answers = 0
        self._window_latency = 0.0
        self._generation = 0  # bumped by each decrease: refusals of calls started before it are old news
        self._paused_until = 0.0
        self._room = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None

    def describe(self) -> str:
        return f"auto (now {int(self.limit)}, ranged {self.lowest}-{self.highest}, {self.decreases} decreases)"

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[_Outcome]:
        if self._loop is not asyncio.get_running_loop():  # each complete_all runs its own loop; the limit carries over
            self._loop, self._room, self.in_flight = asyncio.get_running_loop(), asyncio.Condition(), 0
        async with self._room:
            while True:
                pause = self._paused_until - time.monotonic()
                if pause > 0:
                    self._room.release()  # let others see the pause too, without holding the condition
                    try:
                        await asyncio.sleep(pause)
                    finally:
                        await self._room.acquire()
                    continue
                if self.in_flight < int(self.limit):
                    break
                await self._room.wait()
            self.in_flight += 1
        generation, started = self._generation, time.monotonic()
        outcome = _Outcome(self.in_flight)
        try:
            yield outcome
        finally:
            if outcome.latency_s is None and not outcome.overloaded:
                outcome.latency_s = time.monotonic() - started
            async with self._room:
                self.in_flight -= 1
                self._judge(outcome, generation)
                self._room.notify_all()

    def _judge(self, outcome: _Outcome, generation: int) -> None:
        if outcome.overloaded:
            if outcome.retry_after_s:
                self._paused_until = max(self._paused_until, time.monotonic() + outcome.retry_after_s)
            if generation == self._generation:  # one decrease per overload, however many calls it refused
                self._decrease(outcome.crowd)
            return
        if generation != self._generation:
            return  # started before the last decrease: says nothing about the new limit
        self._window_latency += outcome.latency_s or 0.0
        self._window_answers += 1
        if self._window_answers >= int(self.limit):
            self._end_window()

    def _decrease(self, crowd: int) -> None:
        refused_at = min(self.limit, float(max(crowd, self.low)))  # the server refused this many, not the whole limit
        if self.ceiling is not None and abs(refused_at - self.ceiling) <= 1:
            self._hold = min(self._hold * 4, _MAX_HOLD_WINDOWS)  # refused at the known ceiling again: it holds
        else:
            self._hold = _HOLD_WINDOWS  # a new ceiling: the server changed, or this is the first refusal
        self.ceiling = refused_at
        self.limit = max(float(self.low), refused_at / 2)
        self._step, self._held = 1.0, 0
        self._generation += 1
        self.decreases += 1
        self._window_answers, self._window_latency = 0, 0.0
        self.lowest = min(self.lowest, int(self.limit))

    def _end_window(self) -> None:
        latency = self._window_latency / max(self._window_answers, 1)
        self._window_answers, self._window_latency = 0, 0.0
        if self._best_latency is None or latency < self._best_latency:
            self._best_latency = latency
        holding = latency <= self._best_latency * _LATENCY_TOLERANCE  # else the server is queueing: more buys nothing
        if self.ceiling is None:
            grown = self.limit * 2
        elif self.limit < self.ceiling - 1:
            grown = self.limit + max(1.0, (self.ceiling - 1 - self.limit) / 2)
        elif self.limit < self.ceiling:
            self._held += 1
            if self._held < self._hold:
                return
            grown, self._held = self.ceiling, 0  # probe the ceiling itself
        else:  # passed the ceiling unrefused: the server allows more than it did
            grown = self.limit + self._step
            self._step *= 2
        if not holding:
            return
        self.limit = min(float(self.high), grown)
        self.highest = max(self.highest, int(self.limit))


def limiter_for(settings) -> FixedLimit | AdaptiveLimit:
    """The limiter `configs/model.yaml` max_in_flight asks for."""
    if settings.adaptive_in_flight:
        return AdaptiveLimit(settings.adaptive.min_in_flight, settings.adaptive.max_in_flight)
    return FixedLimit(settings.in_flight)
