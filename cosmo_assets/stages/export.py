"""Stage 5, export: a language's balanced dataset as Parquet (and optionally JSONL) shards, composition
charts and a dataset card, on disk. The folder is built beside the old one and swapped in whole."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cosmo_assets.config import ExportSettings
from cosmo_assets.stages.card import CardContext, dataset_card
from cosmo_assets.stages.charts import composition_charts
from cosmo_assets.storage import Storage


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    shards: list[Path]
    jsonl: list[Path]
    charts: list[Path]
    rows: int
    bytes: int


def _plain(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(_plain(kind.value_type))
    return kind


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """The rows as Arrow with plain (not large) strings and lists, the types readers and the card expect."""
    table = frame.to_arrow()
    return table.cast(pa.schema([pa.field(f.name, _plain(f.type)) for f in table.schema]))


def filter_summary(storage: Storage, language: str) -> dict[str, Any]:
    """What the filters made of the language's drafts: counts, reject reasons, truncation."""
    drafts = storage.query(
        """SELECT count(*)::INTEGER AS drafts, count(text)::INTEGER AS answered,
                  count(*) FILTER (WHERE finish_reason = 'length')::INTEGER AS truncated
           FROM drafts WHERE language = $language""", {"language": language}, table="drafts").row(0, named=True)
    kept = storage.query("SELECT count(*)::INTEGER AS n FROM filtered_articles WHERE language = $language",
                         {"language": language}, table="filtered_articles")["n"][0]
    rejected = storage.query(
        """SELECT reason, count(*)::INTEGER AS n FROM (
               SELECT unnest(reject_reasons) AS reason FROM rejected_drafts WHERE language = $language)
           GROUP BY reason ORDER BY n DESC, reason""", {"language": language}, table="rejected_drafts")
    rejected_drafts = storage.query("SELECT count(*)::INTEGER AS n FROM rejected_drafts WHERE language = $language",
                                    {"language": language}, table="rejected_drafts")["n"][0]
    return {**drafts, "kept": int(kept), "rejected": int(rejected_drafts), "reasons": list(rejected.iter_rows())}


def generation_costs(storage: Storage, language: str) -> tuple[pl.DataFrame, float]:
    """Every draft of the language (kept or not: all were paid for) per model, and the cost of the
    released articles alone."""
    per_model = storage.query(
        """
        SELECT model, count(*)::INTEGER AS drafts, coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
               coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
               coalesce(sum(cost_usd), 0.0) AS cost_usd
        FROM drafts WHERE language = $language GROUP BY model ORDER BY model
        """,
        {"language": language},
        table="drafts",
    )
    released = storage.query(
        """
        SELECT coalesce(sum(d.cost_usd), 0.0) AS cost_usd
        FROM balanced_dataset AS b JOIN drafts AS d ON d.draft_id = b.id AND d.language = b.language
        WHERE b.language = $language
        """,
        {"language": language},
        table="balanced_dataset",
    )
    return per_model, float(released["cost_usd"][0]) if released.height else 0.0


def export_dataset(
    frame: pl.DataFrame, export_dir: Path, language: str, settings: ExportSettings, context: CardContext | None = None
) -> ExportSummary:
    """Write shards, charts and card to a fresh folder, then swap it in, so a reader never sees half an export."""
    context = context or CardContext()
    export_dir.mkdir(parents=True, exist_ok=True)
    final = export_dir / language
    staging = Path(tempfile.mkdtemp(prefix=f".{language}-", dir=export_dir))
    try:
        (staging / "data").mkdir()
        n_shards = max(1, math.ceil(frame.height / settings.shard_rows))
        names, jsonl_names = [], []
        for i in range(n_shards):
            shard = frame.slice(i * settings.shard_rows, settings.shard_rows)
            name = f"train-{i:05d}-of-{n_shards:05d}"
            pq.write_table(to_arrow(shard), staging / "data" / f"{name}.parquet", compression="zstd")
            names.append(f"{name}.parquet")
            if settings.jsonl:
                shard.write_ndjson(staging / "data" / f"{name}.jsonl")
                jsonl_names.append(f"{name}.jsonl")
        charts = (composition_charts(frame, staging / "charts", context.token_label, context.generation.get("max_tokens"))
                  if settings.charts else [])
        chart_names = [p.name for p in charts]
        staging.chmod(0o755)  # mkdtemp makes it private; an export is for others to read
        card = dataset_card(frame, to_arrow(frame), language, names, context, chart_names)
        (staging / "README.md").write_text(card, encoding="utf-8")
        manifest = {"language": language, "rows": frame.height, "shards": names, "jsonl": jsonl_names,
                    "charts": chart_names, "columns": frame.columns, "token_unit": context.token_unit,
                    "license": context.license}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        old = None
        if final.exists():
            old = export_dir / f".{language}-old-{staging.name}"
            final.rename(old)
        staging.rename(final)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(
        final,
        [final / "data" / n for n in names],
        [final / "data" / n for n in jsonl_names],
        [final / "charts" / n for n in chart_names],
        frame.height,
        sum(p.stat().st_size for p in final.rglob("*") if p.is_file()),
    )
