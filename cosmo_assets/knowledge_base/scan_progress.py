"""Progress of a long dump scan: bytes read, entities kept, rate and time left, in the log and on a terminal."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("cosmo_assets.wikidata")

_EVERY_S = 10.0


class ScanProgress:
    """Says how a scan is going every few seconds; the time left is judged on the file's bytes on disk."""

    def __init__(self, name: str, file_bytes: int, position: Callable[[], int],
                 report: Callable[[str], None] | None = None, every_s: float = _EVERY_S):
        self.name, self.file_bytes, self.position = name, file_bytes, position
        self.report, self.every_s = report, every_s
        self.started = self.last = time.monotonic()
        self.terminal = sys.stderr.isatty()

    def update(self, json_bytes: int, kept: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._say(self.line(json_bytes, kept, now), final=False)

    def finish(self, json_bytes: int, kept: int) -> None:
        line = self.line(json_bytes, kept, time.monotonic(), done=True)
        self._say(line, final=True)

    def line(self, json_bytes: int, kept: int, now: float, done: bool = False) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = json_bytes / 1e6 / elapsed
        read = self.file_bytes if done else min(self.position(), self.file_bytes)
        share = read / self.file_bytes if self.file_bytes else 1.0
        left = "done" if done else (f"ETA {_duration(elapsed * (1 - share) / share)}" if share > 0 else "ETA unknown")
        return (f"wikidata scan {self.name}: {_size(read)} of {_size(self.file_bytes)} read ({share:.0%}), "
                f"{_size(json_bytes)} of JSON, {kept:,} entities kept, {rate:.0f} MB/s of JSON, "
                f"{_duration(elapsed)} elapsed, {left}")

    def _say(self, line: str, final: bool) -> None:
        log.info(line)
        if self.report is not None:
            self.report(line)
        if self.terminal:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
            sys.stderr.flush()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
