"""Real text: human-written corpora mixed into the release."""

import dagster as dg

from cosmo_assets import contracts
from cosmo_assets.defs.declare import RELEASE_GROUP, asset
from cosmo_assets.defs.partitions import partition_of
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.shared import check_result, counts
from cosmo_assets.stages.real_text import load_real_text


def build(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @asset("real_text", partitions, kinds={"duckdb", "polars"},
           checks={"real_text_contract": "Unique ids, no empty texts."}, group=RELEASE_GROUP, eager=True)
    def real_text(context: dg.AssetExecutionContext, cosmo: CosmoResource) -> dg.MaterializeResult:
        """Human-written text from the corpora in balance.yaml, mixed into the release as source = 'real'. Each
        text passes the same quality and language gates as a draft (filters.yaml) first; the rest are listed."""
        from cosmo_assets.stages.filtering import gate_real_text  # numba and kin: in the step, not the code server

        part = partition_of(context)
        frame, failed = gate_real_text(load_real_text(cosmo.config, part["language"]), cosmo.config.filters, part["language"])
        if failed.height:
            context.log.warning(f"{failed.height} real texts failed the quality or language gates and are left out")
        cosmo.storage.replace_partition("real_text", frame, part)
        corpora = [c for c in cosmo.config.balance.real_text.corpora if c.language == part["language"]]
        return dg.MaterializeResult(
            metadata={
                "rows": frame.height,
                "failed_gates": dg.MetadataValue.json(
                    {r["id"]: r["reject_reasons"] for r in failed.select("id", "reject_reasons").iter_rows(named=True)}
                ),
                "share": cosmo.config.balance.real_text.share,
                "corpora": dg.MetadataValue.json({c.name: str(cosmo.config.real_text_path(c)) for c in corpora}),
                "by_domain": counts(frame, "domain"),
            },
            check_results=[check_result("real_text_contract", contracts.check_real_text(frame))],
        )

    return real_text
