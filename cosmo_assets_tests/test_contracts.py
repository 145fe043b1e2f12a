"""The data contracts: every expectation of every table's great-expectations suite fails on a frame
that breaks it, naming itself; good frames pass; in a real materialisation a failed ERROR expectation
stops the downstream partition and a failed WARN one does not."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from cosmo_assets.config import CosmoConfig, load_config
from cosmo_assets.contracts import suites as ex
from cosmo_assets.contracts.validation import check_partition
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.llm.client import Completion
from cosmo_assets.stages.balancing import run_model
from cosmo_assets.stages.drafts import draft_requests, draft_rows
from cosmo_assets.stages.filtering import filter_drafts
from cosmo_assets.stages.outlines import build_outlines
from cosmo_assets.stages.seeds import build_seeds
from cosmo_assets.storage import TABLES, Storage, frame_schema
from cosmo_assets_tests.conftest import edit_yaml, make_config_dir
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, default_reply

ALPHA_EN = {"domain": "alpha", "language": "en"}


@dataclasses.dataclass(frozen=True)
class Partition:
    """One real alpha|en partition through every stage (drafts from canned replies, one too short)."""

    config: CosmoConfig
    seeds: pl.DataFrame
    outlines: pl.DataFrame
    drafts: pl.DataFrame
    kept: pl.DataFrame
    rejected: pl.DataFrame
    balanced: pl.DataFrame

    def upstream(self, table: str) -> dict[str, pl.DataFrame]:
        return {
            "outlines": {"seeds": self.seeds},
            "drafts": {"outlines": self.outlines},
            "filtered_articles": {"drafts": self.drafts, "rejected": self.rejected},
        }.get(table, {})

    def frame(self, table: str) -> pl.DataFrame:
        return {"seeds": self.seeds, "outlines": self.outlines, "drafts": self.drafts,
                "filtered_articles": self.kept, "balanced_dataset": self.balanced}[table]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Partition:
    config = load_config(make_config_dir(tmp_path_factory.mktemp("contracts")))
    seeds = build_seeds(config, "alpha", "en", None)
    outlines = build_outlines(config, seeds)
    completions = []
    for i, request in enumerate(draft_requests(outlines, config.model)):
        text = "Too short to keep." if i == 0 else default_reply(request.messages[-1]["content"])
        completions.append(Completion(key=request.key, text=text, status="ok", prompt_tokens=120,
                                      completion_tokens=len(text.split()), latency_s=0.2, attempts=1, finish_reason="stop"))
    drafts = draft_rows(outlines, completions, config.model)
    outcome = filter_drafts(drafts, config.filters, "en", outlines)
    kept, rejected = outcome.kept, outcome.rejected
    storage = Storage(config.duckdb_path())
    for table, frame in (("seeds", seeds), ("outlines", outlines), ("drafts", drafts),
                         ("filtered_articles", kept), ("rejected_drafts", rejected)):
        storage.replace_partition(table, frame, ALPHA_EN)
    # Every candidate released, as the quota allocation does when no target binds.
    candidates = run_model(storage, config, "release_candidates", "en")
    released = candidates.with_columns(generation_settings=pl.lit('{"model": "openai/test-model"}'),
                                       derived_from=pl.lit(None, dtype=pl.String))
    balanced = released.select(list(frame_schema("balanced_dataset"))).cast(frame_schema("balanced_dataset"))
    assert (seeds.height, kept.height, rejected.height, balanced.height) == (4, 3, 1, 3)
    return Partition(config, seeds, outlines, drafts, kept, rejected, balanced)


def check(p: Partition, table: str, frame: pl.DataFrame | None = None, config: CosmoConfig | None = None, **upstream):
    return check_partition(table, p.frame(table) if frame is None else frame, config or p.config,
                              **{**p.upstream(table), **upstream})


def failed_names(outcome) -> dict[str, str]:
    return {r.name: r.severity for r in outcome.failed}


def set_row(frame: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    """`frame` with columns of one row replaced, keeping the column types where the value fits."""
    index = pl.int_range(pl.len()) == row
    return frame.with_columns(
        pl.when(index).then(pl.lit(v, dtype=frame.schema[c] if v is not None else None)).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


def copy_row(frame: pl.DataFrame, column: str, source: int = 0, target: int = 1) -> pl.DataFrame:
    return set_row(frame, target, **{column: frame[column][source]})


# --- good frames pass -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(ex.SUITES))
def test_good_partitions_meet_every_expectation(good, table):
    outcome = check(good, table)
    assert outcome.passed, outcome.description
    assert outcome.description.startswith("all ") and outcome.rows == good.frame(table).height
    meta = outcome.metadata
    assert meta["failed"] == [] and meta["expectations_evaluated"] == len(outcome.results)
    assert "| columns are those of the" in meta["expectations"]


def test_suites_are_built_from_config(good):
    names = {e.description for e in ex.SUITES["outlines"](good.config)}
    assert "content_type is one of the content types in outlines.yaml" in names
    [content_types] = [e for e in ex.SUITES["outlines"](good.config) if e.description.startswith("content_type is one of")]
    assert sorted(content_types.value_set) == sorted(c.id for c in good.config.outlines.content_types)
    [words] = [e for e in ex.SUITES["filtered_articles"](good.config) if e.description.startswith("word_count is within")]
    assert (words.min_value, words.max_value) == (good.config.filters.min_words, good.config.filters.max_words)


# --- every expectation fails on a frame that breaks it ------------------------------------------------

Breaker = Callable[[Partition], dict]


def row(table: str, **values) -> Breaker:
    return lambda p: {"frame": set_row(p.frame(table), 1, **values)}


def same_as_first(table: str, column: str) -> Breaker:
    return lambda p: {"frame": copy_row(p.frame(table), column)}


def with_config(section: str, **changes) -> Callable[[CosmoConfig], CosmoConfig]:
    return lambda c: dataclasses.replace(c, **{section: getattr(c, section).model_copy(update=changes)})


def mix_values(table: str) -> dict[str, Breaker]:
    return {
        "domain is one of the configured domains (domains/)": row(table, domain="gamma"),
        "language is one of the enabled languages (languages.yaml)": row(table, language="fr"),
        "topic_type is one of the known topic types": row(table, topic_type="planet"),
        "content_type is one of the content types in outlines.yaml": row(table, content_type="limerick"),
        "audience is one of the audiences in outlines.yaml": row(table, audience="robots"),
        "style is one of the styles in outlines.yaml": row(table, style="shouting"),
    }


# table -> expectation name -> what breaks it (a frame, upstream frames, or a config)
BREAKS: dict[str, dict[str, Breaker]] = {
    "seeds": {
        "the partition has seeds": lambda p: {"frame": p.seeds.clear()},
        "seed_id is unique": lambda p: {"frame": copy_row(p.seeds, "seed_id")},
        "title is not blank": row("seeds", title="   "),
        "topic_type is one of the known topic types": row("seeds", topic_type="planet"),
        "domain is one of the configured domains (domains/)": row("seeds", domain="gamma"),
        "language is one of the enabled languages (languages.yaml)": row("seeds", language="fr"),
        "titles are unique": same_as_first("seeds", "title"),
    },
    "outlines": {
        "outline_id is unique": same_as_first("outlines", "outline_id"),
        "every seed has an outline": lambda p: {"frame": p.outlines.slice(1)},
        "every outline lists facts of its own seed, and only those": lambda p: {
            "frame": p.outlines.with_columns(
                required_facts=pl.lit(
                    [{"property": "invented", "value": "not a fact of this seed"}],
                    dtype=pl.List(pl.Struct({"property": pl.String, "value": pl.String})),
                )
            )
        },
        "every outline plans a seed of the partition": row("outlines", seed_id="seed-of-another-partition"),
        **mix_values("outlines"),
        "template_id is one of the templates in outlines.yaml or seeds.yaml documents.template": row("outlines", template_id="limerick.j2"),
        "prompt is not blank": row("outlines", prompt="\n \n"),
        "variant is 0 or more": row("outlines", variant=-1),
        "prompts are unique": same_as_first("outlines", "prompt_hash"),
    },
    "drafts": {
        "draft_id is unique": same_as_first("drafts", "draft_id"),
        "one draft per outline": same_as_first("drafts", "outline_id"),
        "every outline has a draft": lambda p: {"frame": p.drafts.slice(1)},
        "every draft expands an outline of the partition": row("drafts", outline_id="outline-of-another-partition"),
        "domain is one of the configured domains (domains/)": row("drafts", domain="gamma"),
        "language is one of the enabled languages (languages.yaml)": row("drafts", language="fr"),
        "model is the configured model": row("drafts", model="openai/some-other-model"),
        "status is ok, failed or skipped_budget": row("drafts", status="pending"),
        "at least 80% of requests succeed (model.yaml max_failed_share)": lambda p: {
            "frame": p.drafts.with_columns(status=pl.lit("failed"), text=pl.lit(None, pl.String), error=pl.lit("injected 400"))
        },
        "an ok draft has text": row("drafts", text=None),
        "an ok draft's text is not blank": row("drafts", text="  "),
        "a failed draft says why": row("drafts", status="failed", text=None, error=None),
        "a draft the budget stopped says so": row("drafts", status="skipped_budget", text=None, error=None),
        "cost_usd is 0 or more": row("drafts", cost_usd=-0.01),
        "prompt_tokens is 0 or more": row("drafts", prompt_tokens=-1),
        "completion_tokens is 0 or more": row("drafts", completion_tokens=-1),
        "latency_s is 0 or more": row("drafts", latency_s=-0.5),
        "an ok draft reports its completion tokens": row("drafts", completion_tokens=0),
        "completion_tokens stay within max_tokens (512, model.yaml; twice that for a draft finished by a continuation)": row("drafts", completion_tokens=5000),
    },
    "filtered_articles": {
        "draft_id is unique": lambda p: {"frame": pl.concat([p.kept, p.kept.head(1)])},
        "every article is a draft of the partition": row("filtered_articles", draft_id="draft-of-another-partition"),
        "between 0% and 100% of drafts are kept (filters.yaml min_kept_share; budget-skipped drafts aside)": lambda p: {  # the embedded model's share (model_overrides)
            "frame": pl.concat([p.kept] * (p.drafts.height + 1)), "rejected": p.rejected.clear(),
        },
        "domain is one of the configured domains (domains/)": row("filtered_articles", domain="gamma"),
        "language is one of the enabled languages (languages.yaml)": row("filtered_articles", language="fr"),
        "text is not blank": row("filtered_articles", text=" "),
        "word_count is within [100, 2000] (filters.yaml)": row("filtered_articles", word_count=12),
        "mean_word_length is 0 or more": row("filtered_articles", mean_word_length=-1.0),
        "duplicate_line_share is within [0, 0.3]": row("filtered_articles", duplicate_line_share=0.9),
        **{f"top_{n}gram_share is within [0, {limit}]": row("filtered_articles", **{f"top_{n}gram_share": 0.9})
           for n, limit in {2: 0.2, 3: 0.18, 4: 0.16}.items()},
        **{f"duplicate_{n}gram_share is within [0, {limit}]": row("filtered_articles", **{f"duplicate_{n}gram_share": 0.9})
           for n, limit in {5: 0.25, 6: 0.24, 7: 0.23, 8: 0.22, 9: 0.21, 10: 0.2}.items()},
        "language_confidence is within [0.6, 1]": row("filtered_articles", language_confidence=0.2),
        "the detected language is the partition's": row("filtered_articles", language_detected="fr"),
        "quality_score is within [0, 1]": row("filtered_articles", quality_score=1.5),
        "article texts are unique": same_as_first("filtered_articles", "text"),
        "every draft is kept or rejected, once": lambda p: {"frame": p.kept.slice(1)},
    },
    "balanced_dataset": {
        "id is unique": lambda p: {"frame": copy_row(p.balanced, "id")},
        "texts are unique across domains": same_as_first("balanced_dataset", "text"),
        **mix_values("balanced_dataset"),
        "source is real, rephrased or synthetic": row("balanced_dataset", source="scraped"),
        "token_count is 1 or more": row("balanced_dataset", token_count=0),
        "quality_score is within [0.0, 1] (balance.yaml min_quality_score)": row("balanced_dataset", quality_score=1.5),
        "the release has articles": lambda p: {"frame": p.balanced.clear()},
        "at most 2 articles (balance.yaml max_per_language)": lambda p: {
            "config": with_config("balance", max_per_language=2)(p.config)
        },
        "no seed has more than 1 articles (balance.yaml max_per_seed)": lambda p: {
            "frame": copy_row(p.balanced, "seed_id"), "config": with_config("balance", max_per_seed=1)(p.config)
        },
        "no template has more than 1 articles (balance.yaml max_per_template)": lambda p: {
            "frame": copy_row(p.balanced, "template_id"), "config": with_config("balance", max_per_template=1)(p.config)
        },
        **{f"a synthetic article has its {column}": row("balanced_dataset", **{column: None}) for column in ex.SYNTHETIC_ONLY},
        "real text has its corpus's content type (balance.yaml real_text)": row(
            "balanced_dataset", source="real", content_type="textbook_narrative"
        ),
    },
}

WARNINGS = {
    ("seeds", "titles are unique"), ("outlines", "prompts are unique"),
    ("drafts", "an ok draft reports its completion tokens"),
    ("drafts", "completion_tokens stay within max_tokens (512, model.yaml; twice that for a draft finished by a continuation)"),
    ("filtered_articles", "article texts are unique"), ("balanced_dataset", "the release has articles"),
}


@pytest.mark.parametrize(("table", "name"), [(t, n) for t, cases in BREAKS.items() for n in cases])
def test_a_frame_that_breaks_an_expectation_fails_naming_it(good, table, name):
    broken = BREAKS[table][name](good)
    outcome = check(good, table, broken.pop("frame", None), broken.pop("config", None), **broken)
    failed = failed_names(outcome)
    assert not outcome.passed and name in failed, f"{name!r} not among failures: {failed}"
    expected = "warn" if (table, name) in WARNINGS else "error"
    assert failed[name] == expected
    if expected == "warn":
        # A warning alone leaves the check at WARN severity: it shows, and blocks nothing.
        assert set(failed.values()) == {"warn"} and outcome.severity == "warn"
    else:
        assert outcome.severity == "error"
    assert name in outcome.description
    [reported] = [f for f in outcome.metadata["failed"] if f["expectation"] == name]
    assert reported["observed"] is not None and reported["rule"]


def wrong_type(dtype: pl.DataType) -> pl.Expr:
    return pl.lit(7, pl.Int32) if dtype == pl.String else pl.lit("seven")


@pytest.mark.parametrize("table", list(ex.SUITES))
def test_every_column_of_the_wrong_type_or_null_fails_its_schema_expectation(good, table):
    frame = good.frame(table)
    retyped = frame.with_columns(wrong_type(dtype).alias(c) for c, dtype in frame.schema.items())
    failed = failed_names(check(good, table, retyped))
    for column, sql_type in TABLES[table].items():
        assert failed.get(f"{column} is {sql_type.removesuffix(' NOT NULL')}") == "error", column

    required = [c for c, t in TABLES[table].items() if t.endswith("NOT NULL")]
    nulled = frame.with_columns(pl.lit(None, frame.schema[c]).alias(c) for c in required)
    failed = failed_names(check(good, table, nulled))
    assert all(failed.get(f"{c} is never null") == "error" for c in required), failed

    extra = frame.with_columns(surprise=pl.lit(1))
    assert failed_names(check(good, table, extra)) == {f"columns are those of the {table} table": "error"}


def test_a_missing_column_fails_the_schema_and_is_reported_not_raised(good):
    outcome = check(good, "drafts", good.drafts.drop("cost_usd"))
    failed = failed_names(outcome)
    assert failed["columns are those of the drafts table"] == "error"
    [cost] = [r for r in outcome.results if r.name == "cost_usd is 0 or more"]
    assert not cost.passed and str(cost.observed).startswith("could not evaluate")


def test_unexpected_examples_name_the_rows(good):
    outcome = check(good, "drafts", set_row(good.drafts, 2, cost_usd=-3.0))
    [cost] = [r for r in outcome.failed if r.name == "cost_usd is 0 or more"]
    assert cost.observed == {"unexpected_rows": 1, "rows_checked": 4}
    assert cost.unexpected_examples == [{"draft_id": good.drafts["draft_id"][2], "value": -3.0}]


def test_quota_expectations_hold_shares_within_tolerance(good):
    observed = good.balanced["content_type"].value_counts(normalize=True)
    on_target = {"content_type": dict(observed.iter_rows())}
    assert check(good, "balanced_dataset", quota_targets=on_target, quota_tolerance=0.05).passed

    present = good.balanced["content_type"][0]
    absent = next(c.id for c in good.config.outlines.content_types if c.id not in set(good.balanced["content_type"]))
    off_target = {"content_type": {present: 0.0, absent: 1.0}}
    outcome = check(good, "balanced_dataset", quota_targets=off_target, quota_tolerance=0.1)
    assert failed_names(outcome) == {
        f"quota: content_type {present} is at most 10% (target 0% ± 10%)": "warn",
        f"quota: content_type {absent} is at least 90% (target 100% ± 10%)": "warn",
    }
    [low] = [r for r in outcome.failed if "at least" in r.name]
    assert low.observed["share_meeting_it"] == 0.0 and low.observed["share_required"] == 0.9

    # Quotas count synthetic articles only: real text mixed into the release is outside them.
    real = good.balanced.with_columns(
        pl.lit(None, good.balanced.schema[c]).alias(c) for c in ex.SYNTHETIC_ONLY
    ).with_columns(source=pl.lit("real"), content_type=pl.lit("real_text"))
    mixed = pl.concat([good.balanced, real.with_columns(id=pl.col("id") + "-real", text=pl.col("text") + " (real)")])
    assert check(good, "balanced_dataset", mixed, quota_targets=on_target, quota_tolerance=0.05).passed


def test_every_expectation_has_a_test_that_breaks_it(good):
    schema = {
        t: {f"columns are those of the {t} table"}
        | {f"{c} is {s.removesuffix(' NOT NULL')}" for c, s in TABLES[t].items()}
        | {f"{c} is never null" for c, s in TABLES[t].items() if s.endswith("NOT NULL")}
        for t in ex.SUITES
    }
    # The configs the breaking tests use, so every optional expectation is in the suite.
    full_config = with_config("balance", max_per_language=2, max_per_seed=1, max_per_template=1)(good.config)
    for table in ex.SUITES:
        names = {e.description for e in ex.suite(table, full_config).expectations}
        names |= {r.name for r in check(good, table, config=full_config).results if r.rule.startswith("polars")}
        assert names - schema[table] - set(BREAKS[table]) == set(), table


# --- in a real materialisation ------------------------------------------------------------------------


def materialise(config_dir: Path, tmp_path: Path, server: FakeLLMServer, monkeypatch) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
    monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
    config = load_config(config_dir)
    defs = build_definitions(config, CosmoResource(config_dir=str(config_dir), seeds_per_partition=3))
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        return defs.resolve_job_def("generate").execute_in_process(
            partition_key=dg.MultiPartitionKey({"domain": "alpha", "language": "en"}), instance=instance, raise_on_error=False
        )


def test_a_failed_error_expectation_stops_the_downstream_partition_and_says_why(config_dir, tmp_path, monkeypatch):
    with FakeLLMServer(behaviour=lambda prompt: 400) as server:  # every request refused, no retries
        result = materialise(config_dir, tmp_path, server, monkeypatch)
    assert not result.success
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {"seeds", "outlines", "drafts"}
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "drafts_contract")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    name = "at least 80% of requests succeed (model.yaml max_failed_share)"
    assert evaluation.description.startswith(f"ERROR {name}")
    failed = {f["expectation"]: f for f in evaluation.metadata["failed"].value}
    assert failed[name]["observed"]["share_meeting_it"] == 0.0
    assert failed[name]["unexpected_examples"][0]["value"] == "failed"
    assert "**FAILED**" in evaluation.metadata["expectations"].value
    assert evaluation.metadata["failed_errors"].value >= 1


def test_a_failed_warning_shows_without_stopping_the_partition(config_dir, tmp_path, monkeypatch):
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(max_tokens=20))  # the fake server ignores it
    with FakeLLMServer() as server:
        result = materialise(config_dir, tmp_path, server, monkeypatch)
    assert result.success
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "filtered_articles" in materialised
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "drafts_contract")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description.startswith("WARN completion_tokens stay within max_tokens (20, model.yaml;")
    assert evaluation.metadata["failed_errors"].value == 0 and evaluation.metadata["failed_warnings"].value == 1


def test_suites_run_offline_and_quietly():
    code = (
        "import socket, json\n"
        "attempts = []\n"
        "def refuse(self, address):\n"
        "    attempts.append(str(address)); raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "import polars as pl\n"
        "from cosmo_assets.config import load_config\n"
        "from cosmo_assets.storage import empty_frame\n"
        "from cosmo_assets.contracts import validation as expectations\n"
        "outcome = expectations.check_partition('seeds', empty_frame('seeds'), load_config())\n"
        "print(json.dumps({'attempts': attempts, 'failed': [r.name for r in outcome.failed]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"attempts": [], "failed": ["the partition has seeds"]}
    assert "Calculating Metrics" not in out.stderr and "%|" not in out.stderr
