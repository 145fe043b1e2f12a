"""How varied the default run's prompts are, without the model: each partition's distinct 4-gram share and mean
pairwise MinHash similarity (what the `outlines` materialisation records as `prompt_diversity`), and the same
over every prompt of the run together, plus any outline line that still reads `property: value`.

Run: .venv/bin/python -m bench.prompt_diversity [--seeds N] [--config DIR]
"""

from __future__ import annotations

import argparse
import re

from cosmo_assets.config import load_config
from cosmo_assets.diversity import diversity_figures
from cosmo_assets.stages.outlines import plan_outlines
from cosmo_assets.stages.seeds import build_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds per partition (default: project.yaml)")
    parser.add_argument("--config", default=None, help="config folder (default: configs/)")
    args = parser.parse_args()
    config = load_config(args.config)
    seeds_per_partition = args.seeds or config.project.run.seeds_per_partition
    every, raw, shares = [], 0, []
    for language in config.enabled_languages:
        for domain in config.domain_names:
            outlines = plan_outlines(config, build_seeds(config, domain, language, seeds_per_partition)).outlines
            figures = diversity_figures(outlines["prompt"].to_list())
            shares.append(figures["distinct_4gram_share"])
            print(f"{domain}|{language:<3} prompts {figures['texts']:>3}  distinct 4-gram share {figures['distinct_4gram_share']:.3f}"
                  f"  mean pairwise MinHash {figures['mean_pairwise_minhash_similarity']:.3f}")
            every += outlines["prompt"].to_list()
            for row in outlines.iter_rows(named=True):
                raw += sum(bool(re.search(rf"^\s*-\s*{re.escape(f['property'])}\s*:", row["prompt"], re.M))
                           for f in row["required_facts"])
    overall = diversity_figures(every)
    print(f"mean over partitions: distinct 4-gram share {sum(shares) / len(shares):.3f}")
    print(f"all {overall['texts']} prompts together: distinct 4-gram share {overall['distinct_4gram_share']:.3f}, "
          f"mean pairwise MinHash {overall['mean_pairwise_minhash_similarity']:.3f}")
    print(f"outline lines that read `property: value`: {raw}")


if __name__ == "__main__":
    main()
