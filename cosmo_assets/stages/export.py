"""Stage 5, export: a language's balanced dataset as Parquet (and optionally JSONL) shards, composition
charts and a dataset card, on disk. The folder is built beside the old one and swapped in whole."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from cosmo_assets.config import ExportSettings
from cosmo_assets.stages.charts import composition_charts
from cosmo_assets.stages.quota_report import report_markdown
from cosmo_assets.storage import Storage

CARD_TABLES = ("domain", "content_type", "audience", "topic_type", "template_id", "source")
NONE_LABEL = "(none)"  # how a missing value (e.g. the template of a real text) shows in the card


@dataclass(frozen=True)
class CardContext:
    """What the card says beyond the rows themselves."""

    quota_report: pl.DataFrame | None = None  # stages.quotas.quota_report
    costs: pl.DataFrame | None = None  # generation_costs(): per model, every draft of the language
    released_cost_usd: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    corpora: list[dict[str, Any]] = field(default_factory=list)  # real-text corpora: name, license


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    shards: list[Path]
    jsonl: list[Path]
    charts: list[Path]
    rows: int
    bytes: int


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"


_HF_DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool"}


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """The rows as Arrow with plain (not large) strings, the type readers and the card expect."""
    table = frame.to_arrow()
    schema = pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema]
    )
    return table.cast(schema)


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


def composition_table(frame: pl.DataFrame, column: str) -> list[tuple[str, int, float]]:
    """(value, articles, share of all articles) per value of `column`, as the card shows them."""
    if frame.height == 0:
        return []
    counts = frame.group_by(pl.col(column).fill_null(NONE_LABEL)).len().sort(column)
    return [(value, n, n / frame.height) for value, n in counts.iter_rows()]


def dataset_card(
    frame: pl.DataFrame, language: str, shard_names: list[str], context: CardContext, chart_names: list[str]
) -> str:
    arrow = to_arrow(frame)
    features = [{"name": f.name, "dtype": _HF_DTYPES.get(f.type, str(f.type))} for f in arrow.schema]
    front = {
        "language": [language],
        "size_categories": [_size_category(frame.height)],
        "task_categories": ["text-generation"],
        "tags": ["synthetic"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        "dataset_info": {"features": features, "splits": [{"name": "train", "num_examples": frame.height}]},
    }
    synthetic = frame.filter(pl.col("source") == "synthetic")
    models = sorted(m for m in synthetic["model"].unique().to_list() if m)
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# cosmo-assets synthetic dataset ({language})",
        "",
        "Educational articles written by a language model from structured seeds, filtered for quality,",
        "balanced across domains by quotas and mixed with real text, by cosmo-assets.",
        "",
        f"- articles: {frame.height} ({synthetic.height} synthetic, {frame.height - synthetic.height} real)",
        f"- tokens: {int(frame['token_count'].sum() or 0)} (model tokens for synthetic articles, words for real text)",
        f"- models: {', '.join(models) or 'none'}",
        f"- shards: {', '.join(shard_names)}",
        "",
        "Load it with `datasets.load_dataset(\"parquet\", data_files=\"data/*.parquet\")` or pyarrow.",
        "",
    ]
    for column in CARD_TABLES:
        lines += [f"## By {column}", "", f"| {column} | articles | share |", "|---|---|---|"]
        lines += [f"| {value} | {n} | {share:.3f} |" for value, n, share in composition_table(frame, column)]
        lines.append("")
    if context.quota_report is not None and context.quota_report.height:
        lines += ["## Quotas: achieved against target", "",
                  "Shares of the synthetic articles (the `source` row: of all articles).", "",
                  report_markdown(context.quota_report), ""]
    if chart_names:
        lines += ["## Charts", ""] + [f"![{Path(n).stem}](charts/{n})" for n in chart_names] + [""]
    costs = context.costs if context.costs is not None else pl.DataFrame()
    total_cost = float(costs["cost_usd"].sum()) if costs.height else 0.0
    lines += ["## Cost", ""]
    if costs.height:
        lines += ["Every draft of this language, kept or not (all were paid for):", "",
                  "| model | drafts | prompt tokens | completion tokens | cost (USD) |", "|---|---|---|---|---|"]
        lines += [f"| {m} | {d} | {p} | {c} | {usd:.4f} |" for m, d, p, c, usd in costs.iter_rows()]
        lines += [f"| **total** | {costs['drafts'].sum()} | {costs['prompt_tokens'].sum()} | "
                  f"{costs['completion_tokens'].sum()} | {total_cost:.4f} |", ""]
    lines += [f"Total cost: {total_cost:.4f} USD; of the released articles: {context.released_cost_usd:.4f} USD.", ""]
    if context.corpora:
        lines += ["## Real text", "", "| corpus | licence |", "|---|---|"]
        lines += [f"| {c['name']} | {c['license']} |" for c in context.corpora] + [""]
    if context.settings:
        lines += ["## Settings", "", "```yaml", yaml.safe_dump(context.settings, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


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
        charts = composition_charts(frame, staging / "charts") if settings.charts else []
        chart_names = [p.name for p in charts]
        staging.chmod(0o755)  # mkdtemp makes it private; an export is for others to read
        (staging / "README.md").write_text(dataset_card(frame, language, names, context, chart_names), encoding="utf-8")
        manifest = {"language": language, "rows": frame.height, "shards": names, "jsonl": jsonl_names,
                    "charts": chart_names, "columns": frame.columns}
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
