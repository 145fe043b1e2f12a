"""B5: does the filter tell good drafts from bad ones? Measured on a labelled development set.

    .venv/bin/python -m bench.b5_filter_quality            # the shipped configs/filters.yaml
    .venv/bin/python -m bench.b5_filter_quality --show wrong_date   # also list the variants of one kind let through

The set (cosmo_assets_tests/fixtures/filter_dev_set.json) holds reference articles written by hand for
outlines the default config renders, over every content type and six audiences; bench/filter_defects.py
derives one defective variant per article and kind. Each kind is filtered as its own partition (so a
variant is never caught as a near duplicate of its own original), except near duplicates, filtered beside
their originals. Prints per kind the share caught (rejected, or for a cleanable wrapper, cut off so the
kept text is the reference), the share of good articles kept, and the AUC of quality_score between good
and defective drafts (the chance that a good draft scores above a defective one), overall and per kind.
Targets (issue 11): good kept >= 0.95, each kind >= 0.90 caught, invented claims >= 0.60, AUC >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import polars as pl

from bench.filter_defects import CLEANABLE, KINDS
from cosmo_assets.config import load_config
from cosmo_assets.stages import filtering

DEV_SET = Path(__file__).resolve().parents[1] / "cosmo_assets_tests" / "fixtures" / "filter_dev_set.json"


def load_dev_set(path: Path = DEV_SET) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["articles"]


def outline_frame(articles: list[dict]) -> pl.DataFrame:
    fact = pl.List(pl.Struct({"property": pl.String, "value": pl.String}))
    return pl.DataFrame(
        {
            "outline_id": [a["id"] for a in articles],
            "content_type": [a["content_type"] for a in articles],
            "title": [a["title"] for a in articles],
            "sections": [a["sections"] for a in articles],
            "required_facts": [a["required_facts"] for a in articles],
            "facts": [a["facts"] for a in articles],
            "description": [a["description"] for a in articles],
            "prompt": [a["prompt"] for a in articles],
        },
        schema={"outline_id": pl.String, "content_type": pl.String, "title": pl.String,
                "sections": pl.List(pl.String), "required_facts": fact, "facts": fact,
                "description": pl.String, "prompt": pl.String},
    )


def draft_frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(draft_id, outline_id, text) rows as drafts; finish_reason unknown, so text alone must tell."""
    return pl.DataFrame(
        {
            "draft_id": [r[0] for r in rows], "outline_id": [r[1] for r in rows], "seed_id": [r[1] for r in rows],
            "domain": "dev", "language": "en", "status": "ok", "text": [r[2] for r in rows],
            "finish_reason": pl.Series([None] * len(rows), dtype=pl.String),
        }
    )


def run_filter(rows, outlines, settings) -> dict[str, dict]:
    """Per draft id: kept or not, its quality score, reasons and kept text."""
    outcome = filtering.filter_drafts(draft_frame(rows), settings, "en", outlines)
    result = {}
    for frame, kept in ((outcome.kept, True), (outcome.rejected, False)):
        for row in frame.iter_rows(named=True):
            result[row["draft_id"]] = {"kept": kept, "score": row["quality_score"], "text": row["text"],
                                       "reasons": row.get("reject_reasons") or []}
    return result


def auc(good: list[float], bad: list[float]) -> float:
    """Mann-Whitney: the chance a good score is above a bad one (ties count half)."""
    if not good or not bad:
        return float("nan")
    g, b = np.asarray(good)[:, None], np.asarray(bad)[None, :]
    return float(((g > b).sum() + 0.5 * (g == b).sum()) / (g.size * b.size))


def measure(settings, articles: list[dict], seed: int = 11, show: str | None = None) -> dict:
    outlines = outline_frame(articles)
    good = run_filter([(a["id"], a["id"], a["text"]) for a in articles], outlines, settings)
    good_scores = [good[a["id"]]["score"] for a in articles]
    figures = {"articles": len(articles), "good_kept": float(np.mean([good[a["id"]]["kept"] for a in articles]))}
    figures["good_rejected"] = {a["id"]: good[a["id"]]["reasons"] for a in articles if not good[a["id"]]["kept"]}
    kinds, bad_scores = {}, []
    for kind, make in KINDS.items():
        rng = random.Random(f"{seed}:{kind}")
        rows, originals = [], {}
        for a in articles:
            text = make(a, rng=rng, dev_set=articles)
            if text is not None:
                rows.append((f"{a['id']}:{kind}", a["id"], text))
                originals[f"{a['id']}:{kind}"] = a
        extra = [(a["id"], a["id"], a["text"]) for a in articles] if kind == "near_duplicate" else []
        result = run_filter(extra + rows, outlines, settings)
        caught, scores, missed = [], [], []
        for draft_id, _, _text in rows:
            r = result[draft_id]
            repaired = kind in CLEANABLE and r["kept"] and r["text"].strip() == originals[draft_id]["text"].strip()
            # Of a near-duplicate pair one must go; which one is the filter's choice (the better stays).
            pair_gone = kind == "near_duplicate" and not result[originals[draft_id]["id"]]["kept"]
            caught.append((not r["kept"]) or repaired or pair_gone)
            if not caught[-1]:
                missed.append(draft_id)
            scores.append(r["score"])
        bad_scores += scores
        kinds[kind] = {"variants": len(rows), "caught": float(np.mean(caught)), "auc": auc(good_scores, scores)}
        if show == kind:
            kinds[kind]["missed"] = missed
    figures["kinds"] = kinds
    figures["auc"] = auc(good_scores, bad_scores)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="config directory (default: the shipped configs/)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--show", default=None, help="list the variants of this kind that were let through")
    args = parser.parse_args()
    settings = load_config(args.config).filters
    figures = measure(settings, load_dev_set(), args.seed, args.show)
    print(f"B5 filter quality on {figures['articles']} reference articles (configs/filters.yaml as shipped)")
    print(f"  good articles kept: {figures['good_kept']:.3f}  (target >= 0.95)")
    for draft_id, reasons in figures["good_rejected"].items():
        print(f"    rejected good {draft_id}: {', '.join(reasons)}")
    print(f"  {'defect kind':<18} {'variants':>8} {'caught':>7} {'AUC':>6}   target")
    for kind, k in figures["kinds"].items():
        target = 0.60 if kind == "invented_claims" else 0.90
        print(f"  {kind:<18} {k['variants']:>8} {k['caught']:>7.3f} {k['auc']:>6.3f}   >= {target:.2f}")
        for draft_id in k.get("missed", []):
            print(f"    let through: {draft_id}")
    print(f"  quality_score AUC, good vs every defective draft: {figures['auc']:.3f}  (target >= 0.90)")


if __name__ == "__main__":
    main()
