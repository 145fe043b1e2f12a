"""The dataset card of an export: Hub-ready front matter (`datasets.load_dataset(<folder>)` reads it)
and the sections a user needs to trust the release, every number computed from the exported rows or
from the run that made them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import yaml

from cosmo_assets.stages.quota_report import report_markdown

CARD_TABLES = ("domain", "content_type", "audience", "topic_type", "template_id", "source")
NONE_LABEL = "(none)"  # how a missing value (e.g. the template of a real text) shows in the card
DEFAULT_LICENSE = "apache-2.0"
LIMITATIONS = """\
- The synthetic articles were written by a language model from structured seeds. They can state
  facts the seed does not hold, get dates and numbers wrong, or contradict themselves; the filters
  check section and fact coverage and flag contradicted seed facts (`fact_coverage`,
  `contradicted_facts`), but they do not prove an article true. Do not use it as a source of facts.
- Small models repeat themselves and stop mid-sentence when they reach `max_tokens`
  (`finish_reason = 'length'`); see the truncation rate above.
- The mix follows the quotas, not the world: shares of domains, content types and audiences are
  chosen, and a value with little supply is under-represented (see the quota table).
- Text comes in the configured language only; the model's biases are the release's biases."""


@dataclass(frozen=True)
class CardContext:
    """What the card says beyond the rows themselves."""

    quota_report: pl.DataFrame | None = None  # stages.quota_report.quota_report
    tolerance: float = 0.05  # quotas.tolerance the report was judged with
    decisions: dict[str, int] = field(default_factory=dict)  # quota_allocation: candidates per decision
    filter_summary: dict[str, Any] = field(default_factory=dict)  # export.filter_summary()
    costs: pl.DataFrame | None = None  # export.generation_costs(): per model, every draft of the language
    released_cost_usd: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)  # model, max_tokens, temperature, top_p
    corpora: list[dict[str, Any]] = field(default_factory=list)  # real-text corpora: name, license
    token_unit: str = "estimated tokens (words x 1.33)"  # llm/tokens.py TokenUnit.name
    token_label: str = "estimated tokens (words x 1.33)"  # its short form, for the length chart
    license: str = DEFAULT_LICENSE
    diversity: dict[str, dict[str, Any]] = field(default_factory=dict)  # diversity.grouped_figures of the synthetic articles


def size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"


_HF_DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.float64(): "float64",
              pa.bool_(): "bool", pa.null(): "null"}


def hf_feature(name: str, kind: pa.DataType) -> dict[str, Any]:
    """A column as `datasets` writes it in card YAML: {name, dtype} or, for a list, {name, list: dtype}."""
    if pa.types.is_list(kind):
        return {"name": name, "list": _HF_DTYPES[kind.value_type]}
    if kind not in _HF_DTYPES:
        raise ValueError(f"column {name!r}: type {kind} has no `datasets` dtype here; expected one of {list(_HF_DTYPES)}")
    return {"name": name, "dtype": _HF_DTYPES[kind]}


def front_matter(schema: pa.Schema, rows: int, num_bytes: int, language: str, license_id: str) -> dict[str, Any]:
    return {
        "language": [language],
        "license": license_id,
        "size_categories": [size_category(rows)],
        "task_categories": ["text-generation"],
        "tags": ["synthetic"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        "dataset_info": {"features": [hf_feature(f.name, f.type) for f in schema],
                         "splits": [{"name": "train", "num_bytes": num_bytes, "num_examples": rows}]},
    }


def composition_table(frame: pl.DataFrame, column: str) -> list[tuple[str, int, int, int, float]]:
    """(value, synthetic, real, all, share of all articles) per value of `column`."""
    if frame.height == 0:
        return []
    counts = (
        frame.group_by(pl.col(column).fill_null(NONE_LABEL))
        .agg(synthetic=(pl.col("source") == "synthetic").sum(), real=(pl.col("source") == "real").sum(), all=pl.len())
        .sort(column)
    )
    return [(v, s, r, n, n / frame.height) for v, s, r, n in counts.iter_rows()]


def truncation(frame: pl.DataFrame) -> tuple[int, int]:
    """(synthetic articles the model cut off at max_tokens, synthetic articles) in the release."""
    synthetic = frame.filter(pl.col("source") == "synthetic")
    cut = synthetic.filter(pl.col("finish_reason") == "length").height if "finish_reason" in frame.columns else 0
    return cut, synthetic.height


def _count(frame: pl.DataFrame, source: str) -> int:
    return frame.filter(pl.col("source") == source).height


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _quota_section(context: CardContext) -> list[str]:
    lines = ["## Quotas: achieved against target", "",
             "Counts and shares of the **synthetic** articles only (the `source` row: real among all articles).",
             "`met`: within target ± tolerance; `relaxed`: the supply could not meet it, every candidate was "
             "released; `no supply`: a configured value without candidates; `missed`: the check fails.", ""]
    if context.decisions:
        candidates = sum(context.decisions.values())
        released = context.decisions.get("released", 0)
        out = ", ".join(f"{n} {d}" for d, n in sorted(context.decisions.items()) if d != "released") or "none"
        lines += [f"Released {released} of {candidates} candidates; left out: {out} "
                  "(`quota`: to hold the shares, `seed_cap`/`template_cap`: the caps)."]
        full = _at_upper_bound(context)
        if context.decisions.get("quota") and full:
            lines += ["Held at the top of their band, with candidates to spare (one more article would break it): "
                      + ", ".join(full) + "."]
        lines.append("")
    if context.quota_report is not None and context.quota_report.height:
        lines += [report_markdown(context.quota_report), ""]
    return lines


def _at_upper_bound(context: CardContext) -> list[str]:
    """Targets whose value had more candidates than the band let in: why `quota` left articles out."""
    report = context.quota_report
    if report is None or not report.height:
        return []
    full = []
    for r in report.filter((pl.col("kind") == "target") & (pl.col("dimension") != "source")).iter_rows(named=True):
        size = round(r["released"] / r["achieved"]) if r["achieved"] else 0
        if size and r["supply"] > r["released"] and r["released"] + 1 > (r["target"] + context.tolerance) * (size + 1):
            full.append(f"{r['dimension']}={r['value']} ({r['released']} of {r['supply']})")
    return full


def _filter_section(frame: pl.DataFrame, context: CardContext) -> list[str]:
    f = context.filter_summary
    cut, synthetic = truncation(frame)
    lines = ["## Filter summary", ""]
    if f:
        judged = f["kept"] + f["rejected"]
        lines += [f"- drafts written: {f['drafts']}; judged by the filters: {judged}; kept: {f['kept']} "
                  f"(kept share {_share(f['kept'], judged)}); rejected: {f['rejected']}", "",
                  "| reject reason | drafts |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in f["reasons"]] + [""]
        lines += [f"- truncation rate of the drafts (finish_reason = 'length'): {f['truncated']} of {f['answered']} "
                  f"({_share(f['truncated'], f['answered'])})"]
    lines += [f"- truncation rate of the released synthetic articles: {cut} of {synthetic} ({_share(cut, synthetic)})", ""]
    return lines


def _diversity_section(context: CardContext) -> list[str]:
    """The variety of the released synthetic articles, all together and per domain (cosmo_assets/diversity.py)."""
    if not context.diversity:
        return []
    lines = ["## Diversity", "",
             "Of the released **synthetic** articles: distinct word 4-grams over all 4-grams (higher: less reuse), mean "
             "pairwise MinHash similarity (lower: less alike), opening repetition (share of articles whose first words "
             "another repeats) and stock phrases per 1,000 words (filters.yaml `diversity`, which also sets the floors "
             "of the `release_diversity` check).", "",
             "| articles of | texts | distinct 4-gram share | mean pairwise similarity | opening repetition | stock phrases / 1k words |",
             "|---|---|---|---|---|---|"]
    for group, f in context.diversity.items():
        lines.append(f"| {group} | {f['texts']} | {f['distinct_4gram_share']:.3f} | {f['mean_pairwise_minhash_similarity']:.3f} | "
                     f"{f['opening_repetition']:.3f} | {f['stock_phrase_rate']:.2f} |")
    said = context.diversity.get("all", {}).get("stock_phrases", {})
    lines += ["", "Stock phrases, with the articles saying each: " + (", ".join(f"\"{p}\" {n}" for p, n in said.items()) or "none") + ".", ""]
    return lines


def dataset_card(
    frame: pl.DataFrame, table: pa.Table, language: str, shard_names: list[str], context: CardContext,
    chart_names: list[str],
) -> str:
    """`table`: the rows as exported (their Arrow types name the features; their size is the split's num_bytes)."""
    synthetic = frame.filter(pl.col("source") == "synthetic")
    models = sorted(m for m in synthetic["model"].unique().to_list() if m)
    lengths = frame["token_count"]
    lines = [
        "---", yaml.safe_dump(front_matter(table.schema, table.num_rows, table.nbytes, language, context.license), sort_keys=False,
                              allow_unicode=True).rstrip(), "---", "",
        f"# cosmo-assets synthetic dataset ({language})", "",
        "Educational articles written by a language model from structured seeds, filtered for quality,",
        "balanced across domains by quotas and mixed with real text, by cosmo-assets.", "",
        f"- articles: {frame.height} ({synthetic.height} synthetic, {_count(frame, 'rephrased')} rephrased from articles or real-text documents, "
        f"{_count(frame, 'real')} real)",
        f"- tokens: {int(lengths.sum() or 0)} (unit: {context.token_unit}; every row, synthetic and real, in this unit)",
        f"- models: {', '.join(models) or 'none'}",
        f"- licence: {context.license}",
        f"- shards: {', '.join(shard_names)}", "",
        "Load it with `datasets.load_dataset(\"<this folder>\")` (the `configs` above name the Parquet shards) or pyarrow.",
        "Synthetic rows carry `prompt`, `outline_id`, `finish_reason`, `fact_coverage`, `contradicted_facts` and",
        "`generation_settings` (JSON); real rows leave them empty.", "",
        "## Composition", "",
        "Articles per value, **synthetic and real** counted apart; `share` is of all articles.", "",
    ]
    for column in CARD_TABLES:
        lines += [f"### By {column}", "", f"| {column} | synthetic | real | all | share |", "|---|---|---|---|---|"]
        lines += [f"| {v} | {s} | {r} | {n} | {share:.3f} |" for v, s, r, n, share in composition_table(frame, column)]
        lines.append("")
    lines += _quota_section(context) + _filter_section(frame, context) + _diversity_section(context)
    if lengths.len():
        lines += ["## Length", "", f"In {context.token_unit}: mean {lengths.mean():.0f}, median {lengths.median():.0f}, "
                  f"max {lengths.max()}; generation max_tokens {context.generation.get('max_tokens', 'n/a')}.", ""]
    lines += _models_and_cost(context)
    lines += ["## Limitations", "", LIMITATIONS, "", "## Licence", "",
              f"The dataset is released under `{context.license}` (`export.license` in balance.yaml; "
              f"default `{DEFAULT_LICENSE}`). Check it against the model's terms and the knowledge base's licence."]
    if context.corpora:
        lines += ["Real text keeps the licence of its corpus:", "", "| corpus | licence |", "|---|---|"]
        lines += [f"| {c['name']} | {c['license']} |" for c in context.corpora]
    lines.append("")
    if chart_names:
        lines += ["## Charts", ""] + [f"![{Path(n).stem}](charts/{n})" for n in chart_names] + [""]
    return "\n".join(lines)


def _models_and_cost(context: CardContext) -> list[str]:
    lines = ["## Models and settings", ""]
    if context.generation:
        lines += [f"- {k}: {v}" for k, v in context.generation.items()] + [""]
    if context.settings:
        lines += ["```yaml", yaml.safe_dump(context.settings, sort_keys=False).rstrip(), "```", ""]
    costs = context.costs if context.costs is not None else pl.DataFrame()
    total_cost = float(costs["cost_usd"].sum()) if costs.height else 0.0
    lines += ["## Cost", ""]
    if costs.height:
        lines += ["Every draft of this language, kept or not (all were paid for):", "",
                  "| model | drafts | prompt tokens | completion tokens | cost (USD) |", "|---|---|---|---|---|"]
        lines += [f"| {m} | {d} | {p} | {c} | {usd:.4f} |" for m, d, p, c, usd in costs.iter_rows()]
        lines += [f"| **total** | {costs['drafts'].sum()} | {costs['prompt_tokens'].sum()} | "
                  f"{costs['completion_tokens'].sum()} | {total_cost:.4f} |", "",
                  "Prompt and completion tokens here are as the provider counted them."]
    lines += [f"Total cost: {total_cost:.4f} USD; of the released articles: {context.released_cost_usd:.4f} USD.", ""]
    return lines
