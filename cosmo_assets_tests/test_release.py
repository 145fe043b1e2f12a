"""The release side on a real multi-domain run (three domains through the fake model server, a real
Dagster instance and DuckDB file): quotas met within tolerance, real text mixed in, an export that
pyarrow and `datasets` load, a card whose numbers match the data, charts, a deliberately impossible
target failing its check, and a verdict file that leaves a template out of the next run."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from cosmo_assets.config import load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.stages.review import excluded_templates
from cosmo_assets.storage import TABLES, Storage
from cosmo_assets_tests.conftest import edit_yaml, make_config_dir
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, varied_reply

DOMAINS = ("alpha", "beta", "gamma")
SEEDS = 12
TOPIC_TYPES = ("person", "concept", "event", "place")


def definitions(config_dir: Path) -> dg.Definitions:
    return build_definitions(load_config(config_dir), CosmoResource(config_dir=str(config_dir), seeds_per_partition=SEEDS))


def instance_in(path: Path):
    path.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(path))


def generate(defs: dg.Definitions, instance, domains=DOMAINS) -> None:
    for domain in domains:
        key = dg.MultiPartitionKey({"domain": domain, "language": "en"})
        assert defs.resolve_job_def("generate").execute_in_process(partition_key=key, instance=instance).success


def query(config_dir: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(load_config(config_dir).duckdb_path()), read_only=True) as con:
        return con.execute(sql).pl()


@pytest.fixture(scope="module")
def llm():
    """The fake server under a model name litellm has prices for, so drafts cost something."""
    with FakeLLMServer(behaviour=varied_reply) as server, pytest.MonkeyPatch.context() as env:
        for var in ("COSMO_DUCKDB_PATH", "COSMO_EXPORT_DIR", "COSMO_CONFIG_DIR"):
            env.delenv(var, raising=False)
        env.setenv("COSMO_LLM_MODEL", "openai/gpt-4o-mini")
        env.setenv("COSMO_LLM_API_BASE", server.api_base)
        env.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        yield server


@pytest.fixture(scope="module")
def generated(tmp_path_factory, llm) -> Path:
    """Three domains of twelve seeds each, generated once for the module."""
    root = tmp_path_factory.mktemp("generated")
    config_dir = make_config_dir(root, domains=DOMAINS)
    entities = [
        {"id": f"e{i}", "title": f"Entity number {i}", "topic_type": TOPIC_TYPES[i % 4], "description": f"Item {i}.",
         "facts": [{"property": "index", "value": str(i)}], "keywords": []}
        for i in range(SEEDS)
    ]
    (config_dir / "knowledge_base" / "tiny_kb.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entities))
    with instance_in(root / "dagster_home") as instance:
        generate(definitions(config_dir), instance)
    return root


@pytest.fixture
def project(generated, tmp_path, llm) -> Path:
    """A private copy of the generated project (configs and DuckDB file); returns its config dir."""
    root = tmp_path / "project"
    shutil.copytree(generated / "configs", root / "configs")
    shutil.copytree(generated / "data", root / "data")
    edit_yaml(root / "configs" / "project.yaml", lambda d: d["storage"].update(
        duckdb_path=str(root / "data" / "cosmo.duckdb"), export_dir=str(root / "data" / "exports")))
    return root / "configs"


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def card_tables(card: str) -> dict[str, dict[str, tuple[int, int, int]]]:
    """The '### By <column>' tables of a dataset card, as {column: {value: (synthetic, real, all)}}."""
    tables = {}
    for column, body in re.findall(r"^### By (\w+)\n\n\|[^\n]*\n\|[-|]*\n((?:\|[^\n]*\n)*)", card, re.M):
        cells = [[c.strip() for c in row.split("|")[1:-1]] for row in body.strip().splitlines()]
        tables[column] = {c[0]: (int(c[1]), int(c[2]), int(c[3])) for c in cells}
    return tables


def card_matches_the_data(project, card: str, table, released: pl.DataFrame, composition: pl.DataFrame) -> None:
    """The dataset card's front matter, composition tables, costs, quota table and other sections against the export."""
    front = yaml.safe_load(card.split("---")[1])
    assert front["language"] == ["en"]
    assert front["dataset_info"]["splits"][0]["num_examples"] == released.height
    assert [f["name"] for f in front["dataset_info"]["features"]] == table.column_names
    exported = pl.from_arrow(table)
    tables = card_tables(card)
    assert set(tables) >= {"domain", "content_type", "audience", "topic_type", "source"}
    for column, counts in tables.items():
        actual = exported.group_by(pl.col(column).fill_null("(none)")).agg(
            s=(pl.col("source") == "synthetic").sum(), r=(pl.col("source") == "real").sum(), n=pl.len())
        assert counts == {v: (s, r, n) for v, s, r, n in actual.iter_rows()}, column
    drafts = query(project, "SELECT count(*) AS n, sum(cost_usd) AS usd FROM drafts WHERE language = 'en'").row(0, named=True)
    assert drafts["usd"] > 0
    assert f"| **total** | {drafts['n']} |" in card and f"Total cost: {drafts['usd']:.4f} USD" in card
    assert "- models: openai/gpt-4o-mini" in card and "min_release_share" in card  # models and settings
    quota_rows = composition.filter(pl.col("dimension").is_in(["domain", "content_type", "audience"]) & (pl.col("supply") > 0))
    for dimension, value, supply, count, share in quota_rows.select("dimension", "value", "supply", "released", "share").iter_rows():
        assert re.search(rf"\| {dimension} \| {value} \| [0-9.]+ \| {share:.3f} \| {count} \| {supply} \| (met|relaxed \(all {supply} candidates released[^|]*\)) \|", card), value
    assert_card_sections_match(card, exported, project, front)


def test_release_meets_quotas_and_exports_a_dataset_that_loads(project, tmp_path, monkeypatch, capsys, caplog):
    edit_yaml(project / "balance.yaml", lambda d: d["export"].update(shard_rows=10, jsonl=True))
    config = load_config(project)
    with instance_in(tmp_path / "dagster_home") as instance:
        result = definitions(project).resolve_job_def("release").execute_in_process(partition_key="en", instance=instance)
    assert result.success
    assert {name: e.passed for name, e in checks(result).items()} == {
        "real_text_contract": True, "candidates_contract": True, "allocation_contract": True,
        "balanced_contract": True, "quota_targets": True, "review_sample_contract": True, "export_contract": True,
        "release_diversity": False, "inputs_current": True,
    }
    # The fake model opens every article "This article is about ...": the WARN check says so and blocks nothing.
    assert "opening_repetition 1.0 above max_opening_repetition 0.5" in checks(result)["release_diversity"].description

    # Achieved shares of the synthetic articles meet every target within tolerance.
    tolerance = config.balance.quotas.tolerance
    composition = query(project, "SELECT * FROM balance_composition WHERE language = 'en'")
    released = query(project, "SELECT * FROM balanced_dataset WHERE language = 'en'")
    synthetic = released.filter(pl.col("source") == "synthetic")
    print(f"\nachieved vs target (synthetic articles: {synthetic.height} of {composition.filter(pl.col('value') == 'synthetic')['candidates'][0]} candidates)")
    for dimension in ("domain", "content_type", "audience"):
        rows = composition.filter((pl.col("dimension") == dimension) & (pl.col("supply") > 0))
        assert rows.height >= 3
        for value, share in rows.select("value", "share").iter_rows():
            print(f"  {dimension}={value}: target {1 / rows.height:.3f}, achieved {share:.3f}")
            assert abs(share - 1 / rows.height) <= tolerance, (dimension, value, share)
        counted = dict(synthetic.group_by(dimension).len().iter_rows())
        assert dict(rows.select("value", "released").iter_rows()) == {v: counted.get(v, 0) for v in rows["value"]}
    # The SQL model's supply and the allocator's agree.
    assert metadata(result, "quota_allocation")["supply"]["domain"] == dict(
        composition.filter(pl.col("dimension") == "domain").select("value", "supply").iter_rows())

    # Real text is mixed in at the configured share and tagged.
    real = released.filter(pl.col("source") == "real")
    share = config.balance.real_text.share
    assert real.height == round(synthetic.height * share / (1 - share)) > 0
    assert set(real["id"]) <= set(query(project, "SELECT id FROM real_text")["id"])
    print(f"  source=real: target {share:.3f}, achieved {real.height / released.height:.3f}")

    # The export: Parquet shards of the configured size with every column, and JSONL beside them.
    export = config.export_dir() / "en"
    shards = sorted((export / "data").glob("*.parquet"))
    assert len(shards) == math.ceil(released.height / 10)
    table = pq.read_table(shards)
    assert table.num_rows == released.height and table.column_names == list(TABLES["balanced_dataset"])
    assert sorted(table.column("id").to_pylist()) == sorted(released["id"])
    jsonl = pl.concat([pl.read_ndjson(p) for p in sorted((export / "data").glob("*.jsonl"))])
    assert sorted(jsonl["id"]) == sorted(released["id"])

    # ... which the `datasets` library loads offline.
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    # The folder itself, as the Hub would: its card's `configs` and features must be what `datasets` accepts.
    loaded = datasets.load_dataset(str(export), split="train", cache_dir=str(tmp_path / "hf_cache"))
    assert "Ignoring part of dataset_info" not in caplog.text  # the card's splits and features are all understood
    assert loaded.features["sections"].feature.dtype == "string" and loaded.features["token_count"].dtype == "int32"
    assert loaded.num_rows == released.height and loaded.column_names == list(TABLES["balanced_dataset"])
    assert sorted(loaded["id"]) == sorted(released["id"])
    assert {row["source"] for row in loaded} == {"synthetic", "real"}

    # The card's numbers match the data.
    card = (export / "README.md").read_text()
    card_matches_the_data(project, card, table, released, composition)

    # Charts beside the export and in the UI metadata; the key never leaves the environment.
    charts = sorted(p.name for p in (export / "charts").glob("*.png"))
    assert charts == ["audience.png", "content_type.png", "domain.png", "length.png"]
    assert all((export / "charts" / c).read_bytes().startswith(b"\x89PNG") for c in charts)
    shown = metadata(result, "dataset_export")
    assert shown["composition"].count("data:image/png;base64,") == 4
    assert "test-key-not-secret" not in card and "test-key-not-secret" not in json.dumps(shown, default=str)
    with capsys.disabled():
        print(capsys.readouterr().out)


def assert_card_sections_match(card: str, exported: pl.DataFrame, project: Path, front: dict) -> None:
    """Token unit, truncation, filter summary, licence and trace columns: the card agrees with the data."""
    assert front["license"] == "apache-2.0" and "default `apache-2.0`" in card
    assert f"- tokens: {exported['token_count'].sum()} (unit: tokens (openai/gpt-4o-mini tokenizer, through litellm)" in card
    synthetic = exported.filter(pl.col("source") == "synthetic")
    cut = synthetic.filter(pl.col("finish_reason") == "length").height
    assert f"truncation rate of the released synthetic articles: {cut} of {synthetic.height} (" in card
    drafts = query(project, "SELECT count(*) AS n, count(*) FILTER (WHERE finish_reason = 'length') AS cut, "
                            "count(text) AS answered FROM drafts WHERE language = 'en'").row(0, named=True)
    assert f"(finish_reason = 'length'): {drafts['cut']} of {drafts['answered']} (" in card
    kept = query(project, "SELECT count(*) AS n FROM filtered_articles")["n"][0]
    reasons = query(project, "SELECT reason, count(*) AS n FROM (SELECT unnest(reject_reasons) AS reason FROM rejected_drafts) GROUP BY 1")
    assert f"- drafts written: {drafts['n']};" in card and f"kept: {kept} (kept share" in card
    assert reasons.height and all(f"| {r} | {n} |" in card for r, n in reasons.iter_rows())
    for section in ("## Filter summary", "## Models and settings", "## Cost", "## Limitations", "## Licence"):
        assert section in card
    # What a trainer and a reviewer need to trace a synthetic row; real rows leave it empty.
    for column in ("prompt", "outline_id", "finish_reason", "fact_coverage", "generation_settings"):
        assert synthetic[column].null_count() == 0, column
    assert json.loads(synthetic["generation_settings"][0])["model"] == "openai/gpt-4o-mini"
    assert exported.filter(pl.col("source") == "real")["prompt"].null_count() == exported.filter(pl.col("source") == "real").height


def test_an_impossible_target_fails_the_quota_check_with_its_numbers(project, tmp_path):
    # Half the articles of the best-supplied content type, but no template may give more than one:
    # the supply has the articles (at least four), the cap forbids them.
    top = query(project, """
        SELECT o.content_type, count(*) AS n FROM filtered_articles f JOIN outlines o USING (outline_id)
        GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1""")["content_type"][0]
    others = [c.id for c in load_config(project).outlines.content_types if c.id != top]

    def impossible(d):
        d.update(max_per_template=1)
        d["quotas"].update(content_type={top: 0.5, **{c: 0.5 / len(others) for c in others}})
    edit_yaml(project / "balance.yaml", impossible)
    with instance_in(tmp_path / "dagster_home") as instance:
        result = definitions(project).resolve_job_def("release").execute_in_process(
            partition_key="en", instance=instance, raise_on_error=False)
    assert not result.success
    quota = checks(result)["quota_targets"]
    assert not quota.passed
    supplied = query(project, f"SELECT supply, released FROM balance_composition WHERE value = '{top}'").row(0, named=True)
    assert supplied["released"] == 1 and supplied["supply"] >= 4
    # The target is 0.5 of the configured mix, rescaled over the content types present (>= 0.5).
    expected = rf"content_type={top}: target 0\.5\d\d, achieved 0\.\d{{3}} \(1 released, supply {supplied['supply']}\)"
    assert any(re.match(expected, line) for line in quota.metadata["failures"].value), quota.metadata["failures"].value
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "balance_composition" in materialized and "dataset_export" not in materialized  # the check blocks it


def test_a_verdict_file_rejecting_a_template_leaves_it_out_of_the_next_run(project, tmp_path):
    edit_yaml(project / "balance.yaml", lambda d: d["review"].update(min_reviews=2, min_accept_rate=0.5))
    config = load_config(project)
    with instance_in(tmp_path / "dagster_home") as instance:
        assert definitions(project).resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success
        everything = pl.read_csv(config.review_sample_path("en"), infer_schema_length=0)
        sample = everything.filter(pl.col("kind") == "released")
        strata = sample.group_by("domain", "content_type", "template_id").len()
        assert strata["len"].max() <= config.balance.review.per_stratum
        assert sample["id"].is_in(query(project, "SELECT id FROM balanced_dataset")["id"].implode()).all()
        # Rejected drafts beside them, with what a reviewer checks a rejection by.
        drafts_out = everything.filter(pl.col("kind") == "rejected")
        stored = query(project, "SELECT draft_id AS id, array_to_string(reject_reasons, '; ') AS reasons FROM rejected_drafts")
        assert drafts_out.height > 0
        assert drafts_out.join(stored, on="id", how="left", maintain_order="left")["reasons"].to_list() == drafts_out["reject_reasons"].to_list()
        assert drafts_out.group_by("domain", "content_type", "template_id").len()["len"].max() <= 1
        for column in ("prompt", "seed_facts", "quality_score", "fact_coverage"):
            assert everything[column].null_count() == 0, column
        assert drafts_out["reject_reasons"].null_count() == 0 and (drafts_out["reject_reasons"] != "").all()
        assert everything["seed_facts"].str.contains("index: ").all()

        rejected = sample.group_by("template_id").len().sort(["len", "template_id"], descending=[True, False])["template_id"][0]
        verdicts = sample.select(
            "id", verdict=pl.when(pl.col("template_id") == rejected).then(pl.lit("reject")).otherwise(pl.lit("accept")),
            note=pl.lit("reviewed in test"))
        # The reviewer finds the rejected drafts good: false rejections, counted per reason.
        verdicts = pl.concat([verdicts, drafts_out.select("id", verdict=pl.lit("accept"), note=pl.lit("false rejection"))])
        (project / "reviews").mkdir()
        verdicts.write_csv(project / "reviews" / "batch-1.csv")
        fed = set(query(project, f"SELECT DISTINCT domain || '|' || language AS p FROM outlines WHERE template_id = '{rejected}'")["p"])

        reviewed = definitions(project).resolve_job_def("review").execute_in_process(instance=instance)
        warning = checks(reviewed)["template_accept_rates"]
        assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
        assert f"{rejected} accepted 0%" in warning.description
        shown = metadata(reviewed, "template_reviews")
        assert shown["excluded_templates"] == [rejected]
        assert set(shown["stale_partitions"][rejected]) == fed and fed
        rates = query(project, "SELECT template_id, accept_rate, excluded FROM template_reviews")
        assert {t: (r, e) for t, r, e in rates.iter_rows()}[rejected] == (0.0, True)
        assert rates.filter(pl.col("template_id") != rejected)["accept_rate"].to_list() == [1.0] * (rates.height - 1)
        per_reason = drafts_out.select(reason=pl.col("reject_reasons").str.split("; ")).explode("reason").group_by("reason").len()
        reasons = query(project, "SELECT reason, reviewed, accepted, false_rejection_rate FROM reject_reason_reviews")
        assert {r: (n, a, f) for r, n, a, f in reasons.iter_rows()} == {r: (n, n, 1.0) for r, n in per_reason.iter_rows()}

        # The next run: the partitions the template fed are the stale ones; re-run, they no longer draw it.
        generate(definitions(project), instance, domains=[p.split("|")[0] for p in sorted(fed)])
    templates = set(query(project, "SELECT DISTINCT template_id FROM outlines")["template_id"])
    assert rejected not in templates and len(templates) >= 3
    # A new version of the template is reviewed afresh.
    with (project / "templates" / rejected).open("a") as template:
        template.write("\n{# revised after review #}\n")
    assert excluded_templates(load_config(project), Storage(config.duckdb_path())) == set()
