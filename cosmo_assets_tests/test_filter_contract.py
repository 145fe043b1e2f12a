"""filter_contract on a stored partition, a chunk at a time with SQL over the whole partition, judges as the
great-expectations suite does on the whole kept frame: the same expectations, verdicts, severities and counts."""

from __future__ import annotations

import polars as pl
import pytest

from cosmo_assets.config import load_config
from cosmo_assets.contracts.stored_articles import check_stored_articles
from cosmo_assets.contracts.validation import check_partition
from cosmo_assets.stages import filter_run
from cosmo_assets.storage import Storage
from cosmo_assets_tests.conftest import edit_yaml, make_config_dir
from cosmo_assets_tests.test_filter_chunks import SETTINGS, planted_partition

PART = {"domain": "geo", "language": "en"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The planted partition of test_filter_chunks filtered by the streamed stage into a real DuckDB file."""
    root = tmp_path_factory.mktemp("contract")
    config_dir = make_config_dir(root, ("alpha", "beta", "geo"))
    config = load_config(config_dir)
    storage = Storage(config.duckdb_path())
    drafts, _ = planted_partition()
    storage.replace_partition("drafts", drafts.with_columns(model=pl.lit(config.model.model)), PART)
    filter_run.filter_partition(storage, PART, SETTINGS.model_copy(update={"chunk_rows": 7}))
    kept = storage.read_partition("filtered_articles", PART).sort("draft_id")
    assert kept.height == 28
    return config_dir, storage, kept


def both(config, storage, kept: pl.DataFrame):
    """(the stored check in chunks of 5, the suite on the whole frame) after storing `kept` as the partition."""
    storage.replace_partition("filtered_articles", kept, PART)
    upstream = {"drafts": storage.read_partition("drafts", PART), "rejected": storage.read_partition("rejected_drafts", PART)}
    return check_stored_articles(storage, PART, config, chunk_rows=5), check_partition("filtered_articles", kept, config, **upstream)


def verdicts(outcome) -> dict[str, tuple]:
    return {r.name: (r.passed, r.severity, r.observed) for r in outcome.results}


def broken_row(kept: pl.DataFrame, rows: list[int], **values) -> pl.DataFrame:
    pick = pl.int_range(pl.len()).is_in(rows)
    return kept.with_columns(pl.when(pick).then(pl.lit(v, kept.schema[c])).otherwise(pl.col(c)).alias(c) for c, v in values.items())


def test_a_good_stored_partition_meets_every_expectation_as_the_whole_frame_does(stored):
    config_dir, storage, kept = stored
    chunked, whole = both(load_config(config_dir), storage, kept)
    assert chunked.passed, chunked.description
    assert verdicts(chunked) == verdicts(whole)
    assert chunked.rows == 28 and len(chunked.results) == len(whole.results)


BREAKS = {
    # Rows 3 and 24 fall in different chunks of 5: their counts add up.
    "word_count is within [100, 2000] (filters.yaml)": lambda k: broken_row(k, [3, 24], word_count=12),
    "text is not blank": lambda k: broken_row(k, [0, 27], text=" "),
    "the detected language is the partition's": lambda k: broken_row(k, [9], language_detected="fr"),
    "draft_id is unique": lambda k: pl.concat([k, k.slice(4, 1)]),
    "every article is a draft of the partition": lambda k: broken_row(k, [11], draft_id="not-a-draft"),
    "article texts are unique": lambda k: broken_row(k, [6], text=k["text"][17]),
    "every draft is kept or rejected, once": lambda k: k.slice(1),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_stored_partition_that_breaks_an_expectation_fails_as_the_whole_frame_does(stored, name):
    config_dir, storage, kept = stored
    chunked, whole = both(load_config(config_dir), storage, BREAKS[name](kept))
    failed = {r.name: r for r in chunked.failed}
    assert name in failed, f"{name!r} not among {sorted(failed)}"
    assert verdicts(chunked) == verdicts(whole)
    assert chunked.severity == whole.severity and failed[name].unexpected_examples


def test_the_kept_share_is_judged_on_the_stored_drafts(stored):
    config_dir, storage, kept = stored
    filters = config_dir / "filters.yaml"
    shipped = filters.read_text(encoding="utf-8")
    edit_yaml(filters, lambda d: d.update(min_kept_share=0.9, model_overrides={}))
    try:
        chunked, whole = both(load_config(config_dir), storage, kept)
    finally:
        filters.write_text(shipped, encoding="utf-8")
    name = "between 90% and 100% of drafts are kept (filters.yaml min_kept_share; budget-skipped drafts aside)"
    assert [r.name for r in chunked.failed] == [name] and verdicts(chunked) == verdicts(whole)
    assert verdicts(chunked)[name] == (False, "error", 28)
