"""Progress of a partition's drafts as they arrive: a bar redrawn in place on a terminal (done/total, tokens/s,
dollars against the forecast, ETA), plain log lines at intervals elsewhere (the Dagster UI, files, CI).

COSMO_PROGRESS=bar or =lines overrides the terminal check."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

_BAR_WIDTH = 24
_REDRAW_S = 0.2


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def terminal() -> TextIO | None:
    """Where to draw a bar: stderr when it is a terminal (or COSMO_PROGRESS=bar), else nowhere."""
    wanted = os.environ.get("COSMO_PROGRESS", "")
    if wanted == "lines":
        return None
    return sys.stderr if wanted == "bar" or sys.stderr.isatty() else None


class DraftProgress:
    """Feed it each completion (client.complete_all's on_done). `log` has .info (a Dagster context's log,
    or a logger); `forecast_usd` is what the plan expected this partition to cost."""

    def __init__(self, context: Any, total: int, label: str = "drafts", forecast_usd: float | None = None,
                 every_s: float = 10.0, bar: TextIO | None = None):
        self.log = context.log
        self.total, self.label, self.forecast_usd, self.every_s = total, label, forecast_usd, every_s
        self.bar = bar if bar is not None else terminal()
        self.done = self.tokens = self.cache_hits = self.failed = 0
        self.cost = 0.0
        self.started = self.last = self.drawn = time.perf_counter()

    def update(self, completion) -> None:
        self.done += 1
        self.cache_hits += completion.cache_hit
        self.failed += completion.status != "ok"
        self.tokens += completion.paid_tokens  # tokens/s and cost count what this run paid for, not cache hits
        self.cost += completion.paid_usd
        now = time.perf_counter()
        finished = self.done == self.total
        if self.bar is not None and (now - self.drawn >= _REDRAW_S or finished):
            self.drawn = now
            self.bar.write("\r" + self.line(now) + ("\n" if finished else ""))
            self.bar.flush()
        if finished or (self.bar is None and now - self.last >= self.every_s):
            self.last = now
            self.log.info(self.summary(now))

    def _money(self) -> str:
        forecast = f" of ${self.forecast_usd:.4f} forecast" if self.forecast_usd is not None else ""
        return f"${self.cost:.4f}{forecast}"

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        filled = _BAR_WIDTH * self.done // max(self.total, 1)
        eta = (self.total - self.done) * elapsed / self.done if self.done else 0.0
        return (f"{self.label} [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {self.done}/{self.total} drafts, "
                f"{self.tokens / elapsed:.0f} tok/s, {self._money()}, ETA {_clock(eta)}")

    def summary(self, now: float) -> str:
        rate = self.tokens / max(now - self.started, 1e-9)
        return (f"drafts {self.done}/{self.total}, {rate:.0f} tokens/s, {self._money()} so far, "
                f"{self.cache_hits} from cache, {self.failed} not generated")
