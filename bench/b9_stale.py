"""B9: how fast `stale` answers on the default project (configs/, the project's dagster_home).

    .venv/bin/python -m bench.b9_stale

Runs `python -m cosmo_assets stale` in a fresh process (as a user does) and, as the baseline in the
same run, the way it judged before: build the Definitions (every asset module and its libraries) and
assess through their asset graph. Prints wall and CPU seconds of each, their ratio, `stale`'s wall
time against the 5 s target (issue 18; wall time on a busy machine is CPU time stretched by the load, so
the CPU seconds and the load average are printed beside it), and peak memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from cosmo_assets.cli import DEFAULT_DAGSTER_HOME

TARGET_S = 5.0

BASELINE = """
import dagster as dg
from cosmo_assets.config import load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.stage_graph import StageGraph
from cosmo_assets.fingerprints import CONFIGURED
config = load_config()
with dg.DagsterInstance.get() as instance:
    StageGraph(build_definitions(config).resolve_asset_graph()).assess(instance, config, CONFIGURED)
"""


def timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak memory (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))}
    subprocess.run(command, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss of children: the largest child so far


def main() -> None:
    stale = timed([sys.executable, "-m", "cosmo_assets", "stale"])
    baseline = timed([sys.executable, "-c", BASELINE])
    print(f"stale:    {stale[0]:.1f} s wall, {stale[1]:.1f} s CPU")
    print(f"baseline: {baseline[0]:.1f} s wall, {baseline[1]:.1f} s CPU (Definitions built, as before)")
    print(f"ratio: stale takes {stale[0] / baseline[0]:.2f}x the baseline's wall time, {stale[1] / baseline[1]:.2f}x its CPU")
    print(f"target: stale takes {stale[0] / TARGET_S:.2f}x the {TARGET_S:.0f} s target in wall time "
          f"({stale[1] / TARGET_S:.2f}x in CPU time); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"peak memory: stale {stale[2]:.0f} MiB, baseline {baseline[2]:.0f} MiB")


if __name__ == "__main__":
    main()
