"""Stage 5, export: a language's balanced dataset as Parquet shards and a dataset card, on disk."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    shards: list[Path]
    rows: int
    bytes: int


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"


_HF_DTYPES = {pl.String: "string", pl.Int32: "int32", pl.Int64: "int64", pl.Float64: "float64", pl.Boolean: "bool"}


def dataset_card(frame: pl.DataFrame, language: str, shard_names: list[str]) -> str:
    features = "\n".join(
        f"  - name: {name}\n    dtype: {_HF_DTYPES.get(dtype, str(dtype).lower())}" for name, dtype in frame.schema.items()
    )
    lines = [
        "---",
        f"language:\n  - {language}",
        f"size_categories:\n  - {_size_category(frame.height)}",
        "task_categories:\n  - text-generation",
        "configs:",
        "  - config_name: default",
        "    data_files:",
        "      - split: train",
        "        path: data/train-*.parquet",
        "dataset_info:",
        "  features:",
        "\n".join("  " + line for line in features.splitlines()),
        "  splits:",
        "    - name: train",
        f"      num_examples: {frame.height}",
        "---",
        "",
        f"# cosmo-assets synthetic dataset ({language})",
        "",
        "Synthetic educational articles written by a language model from structured seeds, filtered for",
        "quality and balanced across domains by cosmo-assets.",
        "",
        f"- articles: {frame.height}",
        f"- tokens (model count): {int(frame['token_count'].sum() or 0)}",
        f"- models: {', '.join(sorted(frame['model'].unique().to_list())) or 'none'}",
        f"- shards: {', '.join(shard_names)}",
        "",
    ]
    for column in ("domain", "content_type", "audience"):
        counts = frame.group_by(column).len().sort(column)
        lines += [f"## By {column}", "", f"| {column} | articles |", "|---|---|"]
        lines += [f"| {value} | {n} |" for value, n in counts.iter_rows()]
        lines.append("")
    return "\n".join(lines)


def export_dataset(frame: pl.DataFrame, export_dir: Path, language: str, shard_rows: int) -> ExportSummary:
    """Write shards and card to a fresh folder, then swap it in, so a reader never sees half an export."""
    export_dir.mkdir(parents=True, exist_ok=True)
    final = export_dir / language
    staging = Path(tempfile.mkdtemp(prefix=f".{language}-", dir=export_dir))
    try:
        (staging / "data").mkdir()
        n_shards = max(1, math.ceil(frame.height / shard_rows))
        names = []
        for i in range(n_shards):
            name = f"train-{i:05d}-of-{n_shards:05d}.parquet"
            frame.slice(i * shard_rows, shard_rows).write_parquet(staging / "data" / name, compression="zstd")
            names.append(name)
        staging.chmod(0o755)  # mkdtemp makes it private; an export is for others to read
        (staging / "README.md").write_text(dataset_card(frame, language, names), encoding="utf-8")
        (staging / "manifest.json").write_text(
            json.dumps({"language": language, "rows": frame.height, "shards": names}, indent=2), encoding="utf-8"
        )
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
    shards = [final / "data" / n for n in names]
    return ExportSummary(final, shards, frame.height, sum(p.stat().st_size for p in final.rglob("*") if p.is_file()))
