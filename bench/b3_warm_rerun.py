"""B3 warm re-run: materialise one `drafts` partition cold, then again with the response cache warm. The warm
run must make 0 model calls and take at most 5% of the cold run's wall time. Both are Dagster materialisations
(the same process, a real instance and DuckDB file in a temporary folder), timed end to end.

    .venv/bin/python -m bench.b3_warm_rerun                  # the embedded model, the default run size
    .venv/bin/python -m bench.b3_warm_rerun --seeds 12 --max-tokens 256
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

from cosmo_assets.config import DEFAULT_CONFIG_DIR, load_config
from cosmo_assets.defs.generation import build_generation_assets as build_assets
from cosmo_assets.defs.resources import CosmoResource

PARTITION = dg.MultiPartitionKey({"domain": "science", "language": "en"})


def project_in(folder: Path, max_tokens: int | None) -> Path:
    """configs/ as shipped, with storage in `folder`."""
    config_dir = folder / "configs"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    project = yaml.safe_load((config_dir / "project.yaml").read_text())
    project.setdefault("storage", {}).update(duckdb_path=str(folder / "cosmo.duckdb"), export_dir=str(folder / "exports"))
    (config_dir / "project.yaml").write_text(yaml.safe_dump(project))
    if max_tokens:
        model = yaml.safe_load((config_dir / "model.yaml").read_text())
        model["max_tokens"] = max_tokens
        (config_dir / "model.yaml").write_text(yaml.safe_dump(model))
    return config_dir


def materialise(assets, resource, instance, selection: str) -> tuple[float, dict]:
    started = time.perf_counter()
    result = dg.materialize(assets, selection=[selection], partition_key=PARTITION, resources={"cosmo": resource},
                            instance=instance)
    wall = time.perf_counter() - started
    [event] = result.get_asset_materialization_events()
    return wall, {k: v.value for k, v in event.materialization.metadata.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="seeds in the partition (default: configs/project.yaml)")
    parser.add_argument("--max-tokens", type=int, default=None, help="default: configs/model.yaml")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config_dir = project_in(Path(tmp), args.max_tokens)
        config = load_config(config_dir)
        resource = CosmoResource(config_dir=str(config_dir), seeds_per_partition=args.seeds)
        assets = build_assets(config)
        (Path(tmp) / "dagster_home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "dagster_home")) as instance:
            for upstream in ("seeds", "outlines"):
                materialise(assets, resource, instance, upstream)
            cold_s, cold = materialise(assets, resource, instance, "drafts")
            warm_s, warm = materialise(assets, resource, instance, "drafts")

    print(f"\nB3 warm re-run: drafts science|en on {config.model.model}, {cold['rows']} drafts")
    print(f"  cold: {cold_s:6.2f} s, {cold['model_calls']} model calls, {cold['cache_hits']} cache hits, "
          f"{cold['completion_tokens']} completion tokens")
    print(f"  warm: {warm_s:6.2f} s, {warm['model_calls']} model calls, {warm['cache_hits']} cache hits")
    print(f"  warm model calls            {warm['model_calls']}  (target 0)")
    print(f"  warm / cold wall time       {warm_s / cold_s:.3f}  (target <= 0.05)")
    return 0 if warm["model_calls"] == 0 and warm["cache_hits"] == cold["rows"] else 1


if __name__ == "__main__":
    sys.exit(main())
