"""Verdict files: read strictly (bad rows name their file and row), judged per template version."""

from __future__ import annotations

import polars as pl
import pytest

from cosmo_assets.config import load_config
from cosmo_assets.stages.review import VerdictFileError, accept_rates, excluded_templates, read_verdicts
from cosmo_assets.storage import Storage


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_verdicts_are_read_with_their_file_and_row_and_blank_ones_wait(tmp_path):
    path = write(tmp_path / "a.csv", 'id,verdict,note,text\nx1,accept,,"two\nlines"\nx2, Reject ,too short,T2\nx3,,,T3\n')
    verdicts = read_verdicts([path])
    assert verdicts.select("id", "verdict", "note", "row").rows() == [("x1", "accept", None, 2), ("x2", "reject", "too short", 3)]
    assert set(verdicts["file"]) == {str(path)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id,verdict\nx1,accept\nx2,maybe\n", r"b\.csv: row 3: field 'verdict': expected 'accept' or 'reject' \(or empty\), got 'maybe'"),
        ("id,verdict\n,reject\n", r"b\.csv: row 2: field 'id': expected the id of a sampled article"),
        ("article,judgement\nx1,accept\n", r"b\.csv: expected columns 'id' and 'verdict'"),
        ("id,verdict\nx1,accept\nx1,reject\n", r"b\.csv: row 3: field 'verdict': id 'x1' is 'reject' here but 'accept' at .*b\.csv: row 2"),
    ],
)
def test_a_bad_verdict_row_names_file_row_and_field(tmp_path, text, expected):
    with pytest.raises(VerdictFileError, match=expected):
        read_verdicts([write(tmp_path / "b.csv", text)])


def test_a_verdict_for_an_id_never_sampled_is_refused(config_dir):
    (config_dir / "reviews").mkdir()
    write(config_dir / "reviews" / "r.csv", "id,verdict,note\ndraft_nowhere,reject,\n")
    config = load_config(config_dir)
    with pytest.raises(VerdictFileError, match=r"r\.csv: row 2: field 'id': 'draft_nowhere' is in no review sample"):
        excluded_templates(config, Storage(config.duckdb_path()))


def test_a_template_is_left_out_only_below_the_rate_with_enough_reviews_on_its_current_version():
    verdicts = pl.DataFrame({
        "template_id": ["story.j2"] * 4 + ["blog.j2"] * 2 + ["how_to.j2"] * 3,
        "template_version": ["v2"] * 4 + ["v1"] * 2 + ["old"] * 3,
        "verdict": ["reject", "reject", "reject", "accept", "reject", "reject", "reject", "reject", "reject"],
    })
    rates = accept_rates(verdicts, {"story.j2": "v2", "blog.j2": "v1", "how_to.j2": "new"}, min_accept_rate=0.5, min_reviews=3)
    got = {t: (r, e) for t, r, e in rates.select("template_id", "accept_rate", "excluded").iter_rows()}
    assert got == {"story.j2": (0.25, True), "blog.j2": (0.0, False), "how_to.j2": (0.0, False)}
