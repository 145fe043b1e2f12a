"""How close each partition's outlines come to the configured mix: quota dealing (what outlines use) against
independent seeded draws per seed (the baseline), on the default config with every seed of every domain.

Run: .venv/bin/python bench/outline_mix.py [--per-seed K]
"""

from __future__ import annotations

import argparse
import dataclasses

from cosmo_assets.config import load_config
from cosmo_assets.ids import content_hash
from cosmo_assets.outlining.mix import mix_report
from cosmo_assets.stages.outlines import plan_outlines
from cosmo_assets.stages.seeds import read_seeds

DIMENSIONS = {"content_type": "content_types", "audience": "audiences", "style": "styles"}


def independent_draws(config, seeds, per_seed: int) -> dict[str, list[str]]:
    """The baseline: every outline draws each value on its own, weighted, from a hash of seed and variant."""
    drawn: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    for seed_id in seeds["seed_id"]:
        for variant in range(per_seed):
            for dim, field in DIMENSIONS.items():
                options = getattr(config.outlines, field)
                point = int(content_hash(dim, config.project.run.random_seed, seed_id, variant), 16) / 16**16
                point *= sum(o.weight for o in options)
                running = 0.0
                for option in options:
                    running += option.weight
                    if point < running:
                        break
                drawn[dim].append(option.id)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-seed", type=int, default=1, help="outlines per seed (outlines.yaml outlines_per_seed)")
    args = parser.parse_args()
    config = load_config()
    config = dataclasses.replace(config, outlines=config.outlines.model_copy(update={"outlines_per_seed": args.per_seed}))
    worst_quota = worst_draws = 0.0
    print(f"{'partition':<16} {'outlines':>8}  max deviation from the configured mix, pp (quota | independent draws)")
    for domain in config.domain_names:
        for language in config.enabled_languages:
            seeds = read_seeds(config, domain, language, None).seeds
            batch = plan_outlines(config, seeds)
            draws = independent_draws(config, seeds, args.per_seed)
            cells = []
            for dim, field in DIMENSIONS.items():
                weights = {o.id: o.weight for o in getattr(config.outlines, field)}
                quota = batch.mix[dim]["max_deviation_pp"]
                drawn = mix_report(draws[dim], weights)["max_deviation_pp"]
                worst_quota, worst_draws = max(worst_quota, quota), max(worst_draws, drawn)
                cells.append(f"{dim} {quota:4.2f} | {drawn:5.2f}  covers {batch.mix[dim]['covered']}")
            print(f"{domain + '|' + language:<16} {batch.outlines.height:>8}  " + "   ".join(cells))
    print(f"\nworst deviation: quota {worst_quota:.2f} pp, independent draws {worst_draws:.2f} pp; "
          f"ratio {worst_quota / worst_draws:.2f} (lower is closer to the configured mix)")


if __name__ == "__main__":
    main()
