"""The knowledge-base asset that feeds seeds: the Wikidata extract of every dump the domains read."""


import dagster as dg

from cosmo_assets.config import CosmoConfig
from cosmo_assets.defs.declare import asset
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.ids import content_hash
from cosmo_assets.knowledge_base.wikidata_extract import dumps_of, ensure_extract, extract_key, scan_plan

WIKIDATA_EXTRACT = "wikidata_extract"


def knowledge_base_keys(config: CosmoConfig) -> list[str]:
    """The knowledge-base assets seeds read under `config`."""
    return [WIKIDATA_EXTRACT] if dumps_of(config) else []


def build_knowledge_base_assets(config: CosmoConfig) -> list[dg.AssetsDefinition]:
    """The Wikidata extract when some domain reads a Wikidata dump; nothing otherwise."""
    if not dumps_of(config):
        return []

    @asset(
        WIKIDATA_EXTRACT,
        None,
        kinds={"parquet", "duckdb"},
        checks={},
        metadata={
            "stale_when": "a dump file (path, size, modification time), the domains' id or instance-of filters, "
            "the enabled languages, configs/wikidata_properties.yaml's properties or limits.row_bytes changed",
            "files": "<data dir>/wikidata_extract/<dump>-<key>/: entities, labels, bad_rows (Parquet), extract.json",
        },
    )
    def wikidata_extract(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Every Wikidata dump the domains read, scanned once into compact Parquet (the entities any domain may
        want, in every enabled language, and the labels their values name). Seeds partitions read it through
        DuckDB; it is re-made only when a dump or the domains' filters change, and a seeds run makes it if missing."""
        config = cosmo.config
        dumps, keys = {}, []
        for dump in dumps_of(config):
            extract = ensure_extract(config, dump, report=context.log.info)
            manifest = extract.manifest
            keys.append(extract_key(dump, scan_plan(config, dump)))
            dumps[str(dump)] = {
                "extract": str(extract.path), "made_now": manifest["made"], "dump_bytes": manifest["dump_bytes"],
                "json_bytes": manifest["json_bytes"], "lines": manifest["lines"], "entities_kept": manifest["entities"],
                "labels": manifest["labels"], "bad_rows": manifest["bad_rows"], "skipped": manifest["skipped"],
                "seconds": manifest["seconds"], "mb_per_s_of_json": manifest["mb_per_s"],
                "workers": manifest["workers"], "decoder": manifest["decoder"],
            }
        return dg.MaterializeResult(
            metadata={
                "dumps": dg.MetadataValue.json(dumps),
                "entities_kept": sum(d["entities_kept"] for d in dumps.values()),
                "made_now": sum(d["made_now"] for d in dumps.values()),
            },
            data_version=dg.DataVersion(content_hash(sorted(keys))),
        )

    return [wikidata_extract]
