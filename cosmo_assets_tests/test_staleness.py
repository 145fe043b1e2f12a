"""Staleness per partition: a changed input makes exactly the partitions made from it stale, the nightly
schedule and the input-change sensor request exactly those, and once they run nothing is stale."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import dagster as dg
import pytest

from cosmo_assets import cli
from cosmo_assets.config import load_config
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.defs.stage_graph import StageGraph
from cosmo_assets.fingerprints import CONFIGURED, Fingerprint, InputPart, changed_inputs, fingerprint
from cosmo_assets.storage import Storage
from cosmo_assets.verdicts import FRESH, MISSING, STALE, Made, assess
from cosmo_assets_tests.conftest import check_reports, edit_yaml, latest_checks, make_config_dir, stale_only, states
from cosmo_assets_tests.fake_llm_server import FakeLLMServer

ALPHA = {"domain": "alpha", "language": "en"}
BETA = {"domain": "beta", "language": "en"}
GENERATE = ["seeds", "outlines", "drafts", "filtered_articles", "rephrased_articles"]


@pytest.fixture
def fake_model(monkeypatch):
    with FakeLLMServer() as server:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        yield server


@pytest.fixture
def small_config(config_dir: Path) -> Path:
    # The configured size is what the nightly compares against, so the test sets it there.
    edit_yaml(config_dir / "project.yaml", lambda d: d["run"].update(seeds_per_partition=2))
    return config_dir


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


def nightly_tick(defs: dg.Definitions, instance) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def("nightly_generate")
    tick = datetime.datetime(2026, 11, 26, 2, tzinfo=datetime.UTC)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


def run_requested(defs: dg.Definitions, instance, request: dg.RunRequest) -> None:
    job = defs.resolve_job_def(request.job_name or "generate")
    result = job.execute_in_process(
        partition_key=request.partition_key, asset_selection=request.asset_selection, instance=instance, tags=request.tags
    )
    assert result.success


def materialisations(instance, stage: str) -> dict[str, int]:
    records = instance.fetch_materializations(dg.AssetKey(stage), limit=1000).records
    counts: dict[str, int] = {}
    for record in records:
        counts[record.partition_key] = counts.get(record.partition_key, 0) + 1
    return counts


def make_everything(defs: dg.Definitions, instance) -> None:
    for part in (ALPHA, BETA):
        assert defs.resolve_job_def("generate").execute_in_process(
            partition_key=dg.MultiPartitionKey(part), instance=instance
        ).success
    assert defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success


@pytest.fixture(scope="module")
def everything_made(tmp_path_factory) -> Path:
    """A project with every partition and the release made once (configs, DuckDB file, Dagster instance),
    for the tests that start from a finished project; each works on its own copy (`made_project`)."""
    root = tmp_path_factory.mktemp("everything_made")
    config_dir = make_config_dir(root)
    (root / "data" / "exports").mkdir(parents=True)
    (root / "exports").symlink_to(root / "data" / "exports")
    edit_yaml(config_dir / "project.yaml", lambda d: (d["run"].update(seeds_per_partition=2),
                                                      d["storage"].update(export_dir=str(root / "exports"))))
    with pytest.MonkeyPatch.context() as env, FakeLLMServer() as server:
        for var in ("COSMO_DUCKDB_PATH", "COSMO_EXPORT_DIR", "COSMO_CONFIG_DIR"):
            env.delenv(var, raising=False)
        env.setenv("COSMO_LLM_MODEL", "openai/test-model")
        env.setenv("COSMO_LLM_API_BASE", server.api_base)
        env.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        defs = build_definitions(load_config(config_dir), CosmoResource(config_dir=str(config_dir)))
        (root / "dagster_home").mkdir()
        with dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
            make_everything(defs, instance)
    return root


@pytest.fixture
def made_project(everything_made: Path, tmp_path: Path, fake_model) -> tuple[Path, dg.DagsterInstance]:
    """A copy of `everything_made` in this test's folder (its configs pointing at its own DuckDB file), and
    its Dagster instance. The export folder's path is an input of dataset_export (an export moved elsewhere
    is stale), so the copy keeps the path it was made with, a link now leading to the copy's exports."""
    for name in ("configs", "data", "dagster_home"):
        shutil.copytree(everything_made / name, tmp_path / name)
    config_dir = tmp_path / "configs"
    edit_yaml(config_dir / "project.yaml", lambda d: d["storage"].update(duckdb_path=str(tmp_path / "data" / "cosmo.duckdb")))
    (everything_made / "exports").unlink()
    (everything_made / "exports").symlink_to(tmp_path / "data" / "exports")
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        yield config_dir, instance


def test_a_fingerprint_changes_with_what_a_stage_reads_and_names_it(small_config):
    before = load_config(small_config)
    seeds_alpha = fingerprint(before, "seeds", ALPHA, 2)
    seeds_beta = fingerprint(before, "seeds", BETA, 2)
    drafts = fingerprint(before, "drafts", ALPHA, 2)
    outlines = fingerprint(before, "outlines", ALPHA, 2)

    edit_yaml(small_config / "domains" / "alpha.yaml", lambda d: d.update(description="Now with a description."))
    edit_yaml(small_config / "model.yaml", lambda d: d.update(max_in_flight=3, timeout_s=60))  # how, not what
    after = load_config(small_config)
    assert changed_inputs(seeds_alpha.digests(), fingerprint(after, "seeds", ALPHA, 2)) == [
        "configs/domains/alpha.yaml changed"
    ]
    assert changed_inputs(seeds_beta.digests(), fingerprint(after, "seeds", BETA, 2)) == []
    assert changed_inputs(seeds_alpha.digests(), fingerprint(after, "seeds", ALPHA, 5)) == [
        "configs/domains/alpha.yaml changed", "made at another size than the seeds per partition asked for (5)"
    ]
    # The nightly judges by the configured size: a run's own size is not held against it.
    assert changed_inputs(seeds_beta.digests(), fingerprint(after, "seeds", BETA, CONFIGURED)) == []
    assert changed_inputs(fingerprint(before, "seeds", BETA, 5).digests(), fingerprint(after, "seeds", BETA, CONFIGURED)) == []
    assert changed_inputs(drafts.digests(), fingerprint(after, "drafts", ALPHA, 2)) == []

    edit_yaml(small_config / "model.yaml", lambda d: d.update(temperature=0.2))
    base = small_config / "templates" / "_base.j2"  # every template extends it
    base.write_text(base.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    latest = load_config(small_config)
    assert changed_inputs(drafts.digests(), fingerprint(latest, "drafts", ALPHA, 2)) == [
        "configs/model.yaml (and COSMO_LLM_MODEL) changed"
    ]
    templates_changed = changed_inputs(outlines.digests(), fingerprint(latest, "outlines", ALPHA, 2))
    assert "configs/templates/encyclopedia_entry.j2 changed" in templates_changed
    assert all(r.startswith("configs/templates/") and r.endswith(".j2 changed") for r in templates_changed)
    assert changed_inputs({}, fingerprint(latest, "seeds", ALPHA, 2)) == ["made before input fingerprints were recorded"]


def test_a_release_is_stale_once_a_missing_domain_appears_not_before():
    articles = {"alpha|en": Made({"code": "1"}, "a1"), "beta|en": None}
    release = Made({"code": "1"}, "r1", upstream={"filtered_articles/alpha|en": "a1"})

    def verdicts():
        return {v.target: (v.state, v.reasons) for v in assess(
            ["filtered_articles", "balanced_dataset"],
            {"balanced_dataset": ["filtered_articles"]},
            {"filtered_articles": [ALPHA, BETA], "balanced_dataset": [{"language": "en"}]},
            lambda stage, part: Fingerprint(stage, (InputPart("code", "stages", "1"),)),
            lambda stage, part: release if stage == "balanced_dataset" else articles[f"{part['domain']}|en"],
        )}

    assert verdicts()["balanced_dataset/en"] == (FRESH, ())  # made from all there is; nothing better yet
    articles["beta|en"] = Made({"code": "1"}, "b1")
    assert verdicts()["balanced_dataset/en"] == (
        STALE, ("upstream filtered_articles/beta|en was not there when this was made",)
    )
    articles["alpha|en"] = Made({"code": "1"}, "a2")
    assert "upstream filtered_articles/alpha|en was re-made with other rows since" in verdicts()["balanced_dataset/en"][1]


def test_one_domain_config_change_makes_only_its_partitions_stale_and_the_nightly_remakes_exactly_them(
    small_config, instance, fake_model
):
    defs = build_definitions(load_config(small_config), CosmoResource(config_dir=str(small_config)))
    assert set(states(defs, instance, small_config).values()) == {MISSING}
    first_night = nightly_tick(defs, instance)
    assert sorted(r.partition_key for r in first_night) == ["alpha|en", "beta|en"]

    make_everything(defs, instance)
    assert stale_only(defs, instance, small_config) == set()
    assert nightly_tick(defs, instance) == []

    edit_yaml(small_config / "domains" / "alpha.yaml", lambda d: d.update(title="Alpha, retitled"))

    verdicts = StageGraph(defs.resolve_asset_graph()).assess(instance, load_config(small_config), 2)
    stale = {v.target: v.reasons for v in verdicts if v.state != FRESH}
    assert set(stale) == {f"{s}/alpha|en" for s in GENERATE} | {"balanced_dataset/en", "dataset_export/en"}
    assert stale["seeds/alpha|en"] == ("configs/domains/alpha.yaml changed",)
    assert stale["outlines/alpha|en"] == ("upstream seeds/alpha|en is stale",)
    assert all(v.state == STALE for v in verdicts if v.target in stale)

    [request] = nightly_tick(defs, instance)
    assert request.partition_key == "alpha|en"
    assert request.run_key == "2026-11-26:alpha|en"
    assert [k.to_user_string() for k in request.asset_selection] == GENERATE
    assert "configs/domains/alpha.yaml changed" in request.tags["cosmo/why"]

    run_requested(defs, instance, request)
    assert materialisations(instance, "drafts") == {"alpha|en": 2, "beta|en": 1}  # beta cost nothing
    # The release reads every domain; once the domain is re-made, the release is what is left.
    assert stale_only(defs, instance, small_config) <= {"balanced_dataset/en", "dataset_export/en"}
    assert defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success
    assert stale_only(defs, instance, small_config) == set()
    assert nightly_tick(defs, instance) == []


def test_a_filter_change_remakes_only_the_filter_stage_and_the_sensor_says_why(made_project, fake_model):
    small_config, instance = made_project
    defs = build_definitions(load_config(small_config), CosmoResource(config_dir=str(small_config)))
    assert stale_only(defs, instance, small_config) == set()
    sensor = defs.resolve_sensor_def("input_changes")

    def evaluate(cursor=None):
        with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def()) as ctx:
            return sensor(ctx)

    quiet = evaluate()
    assert quiet.run_requests == []
    reported = check_reports(instance)
    assert reported and {e.passed for e in reported} == {True}  # every partition reported current

    edit_yaml(small_config / "filters.yaml", lambda d: d.update(min_words=20))
    noticed = evaluate(quiet.cursor)
    failing = {(e.asset_key.to_user_string(), e.partition): e for e in check_reports(instance)[len(reported):]}
    assert set(failing) == {
        ("filtered_articles", "alpha|en"), ("filtered_articles", "beta|en"), ("balanced_dataset", "en"), ("dataset_export", "en"),
        ("rephrased_articles", "alpha|en"), ("rephrased_articles", "beta|en"),  # its gates read filters.yaml too
    }
    warning = failing[("filtered_articles", "alpha|en")]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.description == "stale: configs/filters.yaml changed"
    assert sorted((r.partition_key, tuple(k.to_user_string() for k in r.asset_selection)) for r in noticed.run_requests) == [
        ("alpha|en", ("filtered_articles", "rephrased_articles")), ("beta|en", ("filtered_articles", "rephrased_articles")),
    ]
    reported = check_reports(instance)
    again = evaluate(noticed.cursor)
    assert check_reports(instance) == reported  # nothing new to say
    assert {r.run_key for r in again.run_requests} == {r.run_key for r in noticed.run_requests}  # Dagster drops repeats

    requests_before = fake_model.requests
    for request in noticed.run_requests:
        run_requested(defs, instance, request)
    assert fake_model.requests == requests_before  # no model call: the drafts did not change
    assert defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success
    settled = evaluate(again.cursor)
    assert settled.run_requests == []
    # The second report for these partitions is stored too, and is what the UI shows now.
    assert {e.passed for e in latest_checks(instance).values()} == {True}
    assert stale_only(defs, instance, small_config) == set()


def test_the_stale_command_lists_reasons_and_run_stale_only_makes_only_them(small_config, tmp_path, monkeypatch, capsys, fake_model):
    kb = small_config / "knowledge_base"
    (kb / "beta.jsonl").write_text((kb / "tiny_kb.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    edit_yaml(small_config / "domains" / "beta.yaml", lambda d: d.update(knowledge_base="knowledge_base/beta.jsonl"))
    monkeypatch.setenv("COSMO_CONFIG_DIR", str(small_config))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert cli.main(["run"]) == 0
    capsys.readouterr()
    assert cli.main(["stale"]) == 0
    assert capsys.readouterr().out.strip() == "0 of 3 partitions missing or stale: everything is up to date"

    seed_file = kb / "beta.jsonl"
    seed_file.write_text(seed_file.read_text(encoding="utf-8").replace('"description": "', '"description": "Edited. ', 1), encoding="utf-8")
    assert cli.main(["stale"]) == 0
    listed = capsys.readouterr().out
    assert "beta|en    seeds              stale    configs/knowledge_base/beta.jsonl changed\n" in listed
    assert "beta|en    drafts             stale    upstream outlines/beta|en is stale\n" in listed
    assert "alpha|en" not in listed
    assert "2 of 3 partitions missing or stale" in listed

    assert cli.main(["run", "--stale-only"]) == 0
    ran = capsys.readouterr().out
    assert "-> generate beta|en (seeds, outlines, drafts, filtered_articles, rephrased_articles): seeds: configs/knowledge_base/beta.jsonl changed" in ran
    assert "-> generate alpha|en" not in ran and "-> release en" in ran
    assert cli.main(["run", "--stale-only"]) == 0
    assert "nothing is missing or stale" in capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        assert materialisations(instance, "drafts") == {"alpha|en": 1, "beta|en": 2}


def reasons(defs, instance, config_dir: Path, size=CONFIGURED) -> dict[str, tuple[str, ...]]:
    verdicts = StageGraph(defs.resolve_asset_graph()).assess(instance, load_config(config_dir), size)
    return {v.target: v.reasons for v in verdicts}


def test_a_template_edit_stales_only_partitions_that_drew_it_and_a_smaller_run_leaves_the_nightly_alone(made_project, fake_model):
    small_config, instance = made_project
    defs = build_definitions(load_config(small_config), CosmoResource(config_dir=str(small_config)))
    assert nightly_tick(defs, instance) == []
    # A smaller ad-hoc run of alpha: judged by the configured size, nothing is stale for the nightly.
    smaller = {"resources": {"cosmo": {"config": {"config_dir": str(small_config), "seeds_per_partition": 1}}}}
    assert defs.resolve_job_def("generate").execute_in_process(
        partition_key=dg.MultiPartitionKey(ALPHA), instance=instance, run_config=smaller
    ).success
    assert nightly_tick(defs, instance) == []
    assert reasons(defs, instance, small_config)["seeds/alpha|en"] == ()
    assert reasons(defs, instance, small_config, size=2)["seeds/alpha|en"] == (
        "made at another size than the seeds per partition asked for (2)",)  # `stale --seeds 2` says so

    drawn = dict(Storage(load_config(small_config).duckdb_path()).query(
        "SELECT domain, list(DISTINCT template_id ORDER BY template_id) FROM outlines GROUP BY domain").iter_rows())
    only_beta = sorted(set(drawn["beta"]) - set(drawn["alpha"]))
    assert only_beta, drawn  # the seeded draws give beta a template alpha did not draw
    template = small_config / "templates" / only_beta[0]
    template.write_text(template.read_text(encoding="utf-8") + "{# edited #}\n", encoding="utf-8")

    now = reasons(defs, instance, small_config)
    assert now["outlines/beta|en"] == (f"configs/templates/{only_beta[0]} changed",)
    assert now["outlines/alpha|en"] == () and now["seeds/beta|en"] == ()
    assert now["drafts/beta|en"] == ("upstream outlines/beta|en is stale",)
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection]) for r in nightly_tick(defs, instance)] == [
        ("beta|en", ["outlines", "drafts", "filtered_articles", "rephrased_articles"])]
