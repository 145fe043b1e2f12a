"""The human review loop: verdict files in, accept rates per template out, and the templates that
fall under the configured accept rate left out of the next run.

Reviewers get a stratified sample (dbt_like_sql/review_sample.sql, written as CSV): released
articles and rejected drafts (`kind`), each with its prompt, seed facts, scores and reject reasons.
They return verdict CSVs (`id`, `verdict` = accept | reject, `note`; other columns are ignored, so a
filled-in copy of the sample works). Verdicts on released articles are judged per template version:
editing a template gives it a new version, which starts afresh. A rejected draft a reviewer accepts
is a false rejection, counted against each of its reject reasons (table reject_reason_reviews).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cosmo_assets.config import CosmoConfig
from cosmo_assets.storage import Storage, frame_schema

VERDICTS = ("accept", "reject")
SAMPLE_COLUMNS = ("id", "verdict", "note", "kind", "reject_reasons", "language", "domain", "content_type", "template_id",
                  "template_version", "audience", "style", "title", "quality_score", "fact_coverage", "section_coverage",
                  "contradicted_facts", "finish_reason", "seed_facts", "prompt", "text")
HISTORY_COLUMNS = ("id", "kind", "reject_reasons", "language", "domain", "content_type", "template_id",
                   "template_version", "title")


class VerdictFileError(ValueError):
    """A verdict file or row is malformed; the message names the file and the row."""


@dataclass(frozen=True)
class TemplateReviews:
    verdicts: pl.DataFrame  # one row per reviewed id, with the template it came from
    templates: pl.DataFrame  # accept rate per template version (released articles), and whether it is left out
    reasons: pl.DataFrame  # per reject reason: rejected drafts reviewed, accepted (false rejections)

    @property
    def excluded(self) -> set[str]:
        return set(self.templates.filter(pl.col("excluded"))["template_id"].to_list())


def write_review_sample(sample: pl.DataFrame, path: Path) -> Path:
    """The sample as a CSV for reviewers, with empty verdict and note columns to fill in.
    Written to a temporary file and renamed, so a reviewer never opens half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lists = [c for c in ("reject_reasons", "contradicted_facts") if c in sample.columns]
    rows = sample.with_columns(verdict=pl.lit(""), note=pl.lit(""), **{c: pl.col(c).list.join("; ") for c in lists}
                               ).select(SAMPLE_COLUMNS)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".csv", dir=path.parent)
    os.close(handle)
    try:
        rows.write_csv(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_verdicts(paths: Sequence[Path]) -> pl.DataFrame:
    """Every verdict in the files: id, verdict, note, file, row. Rows with an empty verdict are not
    reviewed yet and are skipped; an id judged twice must be judged the same way."""
    rows: list[dict] = []
    first_seen: dict[str, dict] = {}
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in ("id", "verdict") if c not in header]
            if missing:
                raise VerdictFileError(f"{path}: expected columns 'id' and 'verdict' (and optionally 'note'), got {header}")
            reader.fieldnames = header
            # Rows are numbered as a spreadsheet shows them (the header is row 1): an article's text
            # may span several lines, so line numbers would point elsewhere.
            for number, row in enumerate(reader, start=2):
                verdict = (row.get("verdict") or "").strip().lower()
                if not verdict:
                    continue
                where = f"{path}: row {number}"
                if verdict not in VERDICTS:
                    raise VerdictFileError(f"{where}: field 'verdict': expected 'accept' or 'reject' (or empty), got {row['verdict']!r}")
                article = (row.get("id") or "").strip()
                if not article:
                    raise VerdictFileError(f"{where}: field 'id': expected the id of a sampled article, got an empty value")
                entry = {"id": article, "verdict": verdict, "note": (row.get("note") or "").strip() or None,
                         "file": str(path), "row": number}
                earlier = first_seen.get(article)
                if earlier is None:
                    first_seen[article] = entry
                    rows.append(entry)
                elif earlier["verdict"] != verdict:
                    raise VerdictFileError(
                        f"{where}: field 'verdict': id {article!r} is {verdict!r} here but "
                        f"{earlier['verdict']!r} at {earlier['file']}: row {earlier['row']}"
                    )
    return pl.DataFrame(rows, schema={"id": pl.String, "verdict": pl.String, "note": pl.String, "file": pl.String, "row": pl.Int32})


def attach_templates(verdicts: pl.DataFrame, sampled: pl.DataFrame) -> pl.DataFrame:
    """Each verdict with the language, domain, content type and template of its article, from the
    history of review samples; an id that was never sampled is an error naming its file and row."""
    joined = verdicts.join(
        sampled.select("id", "language", "domain", "content_type", "template_id", "template_version", "kind",
                       "reject_reasons"), on="id", how="left"
    )
    unknown = joined.filter(pl.col("template_id").is_null())
    if unknown.height:
        first = unknown.row(0, named=True)
        raise VerdictFileError(
            f"{first['file']}: row {first['row']}: field 'id': {first['id']!r} is in no review sample "
            f"(expected an id from a review_sample CSV; {unknown.height} such rows in all)"
        )
    return joined.select(list(frame_schema("review_verdicts"))).cast(frame_schema("review_verdicts"))


def accept_rates(
    verdicts: pl.DataFrame, current_versions: dict[str, str], min_accept_rate: float, min_reviews: int
) -> pl.DataFrame:
    """Accept rate per template version, over released articles. A template is left out when its
    current version has at least min_reviews verdicts and accepts fewer than min_accept_rate of them."""
    released = verdicts.filter(pl.col("kind").fill_null("released") == "released") if "kind" in verdicts.columns else verdicts
    rates = (
        released.group_by("template_id", "template_version")
        .agg(reviewed=pl.len().cast(pl.Int32), accepted=(pl.col("verdict") == "accept").sum().cast(pl.Int32))
        .with_columns(accept_rate=(pl.col("accepted") / pl.col("reviewed")).round(4))
        .join(_frame_of(current_versions, "current_version", pl.String), on="template_id", how="left")
        .with_columns(current=(pl.col("template_version") == pl.col("current_version")).fill_null(False))
        .drop("current_version")
        .with_columns(
            excluded=pl.col("current") & (pl.col("reviewed") >= min_reviews) & (pl.col("accept_rate") < min_accept_rate)
        )
        .sort("template_id", "template_version")
    )
    return rates


def reject_reason_reviews(verdicts: pl.DataFrame) -> pl.DataFrame:
    """Per reject reason, the rejected drafts reviewed and those accepted: a reason with many accepted
    drafts rejects good ones. A draft with several reasons counts for each."""
    schema = frame_schema("reject_reason_reviews")
    rejected = verdicts.filter(pl.col("kind") == "rejected").explode("reject_reasons").drop_nulls("reject_reasons")
    if not rejected.height:
        return pl.DataFrame(schema=schema)
    return (
        rejected.group_by(reason=pl.col("reject_reasons"))
        .agg(reviewed=pl.len(), accepted=(pl.col("verdict") == "accept").sum())
        .with_columns(false_rejection_rate=(pl.col("accepted") / pl.col("reviewed")).round(4))
        .sort("reason")
        .cast(schema)
    )


def _frame_of(mapping: dict, column: str, dtype) -> pl.DataFrame:
    return pl.DataFrame(
        {"template_id": list(mapping), column: list(mapping.values())}, schema={"template_id": pl.String, column: dtype}
    )


def current_template_versions(config: CosmoConfig) -> dict[str, str]:
    from cosmo_assets.outlining.templates import TemplateLibrary  # the one definition of a template's version

    library = TemplateLibrary(config.root / "templates")
    return {ct.template: library.version(ct.template) for ct in config.outlines.content_types}


def partitions_fed(storage: Storage, templates: Iterable[str]) -> dict[str, list[str]]:
    """For each template, the domain|language partitions whose current outlines use it: the ones a
    verdict against it makes stale."""
    names = sorted(set(templates))
    if not names:
        return {}
    fed = storage.query(
        "SELECT template_id, list(DISTINCT domain || '|' || language ORDER BY domain || '|' || language) AS partitions "
        "FROM outlines WHERE template_id IN (SELECT unnest($names)) GROUP BY template_id",
        {"names": names},
        table="outlines",
    )
    found = dict(fed.iter_rows()) if fed.height else {}
    return {t: list(found.get(t) or []) for t in names}


def review_templates(config: CosmoConfig, storage: Storage) -> TemplateReviews:
    """Read every verdict file and judge each template version (reads storage, writes nothing)."""
    settings = config.balance.review
    verdicts = read_verdicts(config.verdict_files())
    if verdicts.height:
        sampled = storage.query('SELECT * FROM "review_sample_history"', table="review_sample_history")
        resolved = attach_templates(verdicts, sampled)
    else:
        resolved = pl.DataFrame(schema=frame_schema("review_verdicts"))
    rates = accept_rates(resolved, current_template_versions(config) if resolved.height else {},
                         settings.min_accept_rate, settings.min_reviews)
    fed = partitions_fed(storage, rates.filter(pl.col("excluded"))["template_id"].to_list())
    templates = (
        rates.join(_frame_of(fed, "fed_partitions", pl.List(pl.String)), on="template_id", how="left")
        .with_columns(pl.col("fed_partitions").fill_null([]))
        .select(list(frame_schema("template_reviews")))
    )
    return TemplateReviews(resolved, templates.cast(frame_schema("template_reviews")), reject_reason_reviews(resolved))


def excluded_templates(config: CosmoConfig, storage: Storage) -> set[str]:
    """Templates (ids, e.g. 'story.j2') the outlines stage must not draw, because reviewers rejected
    too many articles from their current version. Empty when there are no verdict files."""
    if not config.verdict_files():
        return set()
    return review_templates(config, storage).excluded
