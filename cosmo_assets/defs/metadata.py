"""What the UI shows about each stage before anything runs: its table's columns, its code and its inputs."""

from __future__ import annotations

import dagster as dg

from cosmo_assets.fingerprints import STAGE_MODULES, STAGE_TABLES
from cosmo_assets.storage import TABLES

# What each stage reads besides its upstream stage: the same inputs its fingerprint covers.
READS = {
    "seeds": "configs/domains/<domain>.yaml and its knowledge base (configs/knowledge_base/<domain>.jsonl); "
    "run.seeds_per_partition and run.random_seed in configs/project.yaml",
    "outlines": "configs/outlines.yaml, configs/templates/*.j2, configs/languages.yaml, run.random_seed",
    "drafts": "configs/model.yaml (or COSMO_LLM_MODEL): model, generation parameters, system prompt",
    "filtered_articles": "configs/filters.yaml",
    "rephrased_articles": "configs/balance.yaml rephrased, configs/templates/rephrase/*.j2, configs/model.yaml, configs/filters.yaml; "
    "with rephrased.sources real_text or documents: the real_text corpora or the domain's documents files, seeds.yaml documents",
    "balanced_dataset": "configs/balance.yaml and the SQL models in dbt_like_sql/, across every domain of the language",
    "dataset_export": "configs/balance.yaml export; writes data/exports/<language>/ (or COSMO_EXPORT_DIR)",
}


def stage_metadata(stage: str) -> dict[str, object]:
    metadata: dict[str, object] = {
        "reads": READS[stage],
        "made_by": dg.MetadataValue.text(", ".join(f"cosmo_assets/{m}" for m in STAGE_MODULES[stage]) + " and the modules they import"),
        "stale_when": "any input above, the code, or an upstream partition changed since it was made "
        "(see its inputs_current check and `python -m cosmo_assets stale`)",
    }
    tables = STAGE_TABLES[stage]
    if tables:
        metadata["tables"] = ", ".join(f"{t} (DuckDB)" for t in tables)
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[dg.TableColumn(name, kind.replace(" NOT NULL", ""), constraints=dg.TableColumnConstraints(nullable="NOT NULL" not in kind))
                     for name, kind in TABLES[tables[0]].items()]
        )
    return metadata
