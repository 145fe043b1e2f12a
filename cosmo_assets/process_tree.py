"""A process and everything it started, read from /proc (Linux): who is alive, in which process group, their
resident memory and CPU time. Used to stop the services whole (services.py) and to measure them (bench/b10)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(root: int) -> set[int]:
    """Live processes under `root` (zombies not counted), `root` included while it lives."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        if pid == root and not _stat(pid):
            continue
        found.add(pid)
        pending += children.get(pid, [])
    return found


def group_alive(group: int) -> bool:
    """True while any process of the process group lives (a zombie not yet reaped counts as gone)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if (fields := _stat(p)) and fields[0] != "Z"}


def rss_mib(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pids: set[int]) -> float:
    """User + system seconds these processes used so far."""
    return sum((int(f[11]) + int(f[12])) / TICKS for p in pids if (f := _stat(p)))


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
