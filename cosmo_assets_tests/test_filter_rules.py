"""Outline alignment, fact grounding, the model judge, decontamination and deduplication: each made to fire
and not to fire, and duplicates planted across two domains caught when the release is built."""

from __future__ import annotations

import json
import re
import threading

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from cosmo_assets.config import DecontaminationSettings, DedupSettings, FilterSettings, ModelSettings, ShapeRule, load_config
from cosmo_assets.filters import claims, decontamination, dedup
from cosmo_assets.filters.judge import VERDICTS, judge_drafts, read_judgement
from cosmo_assets.filters.text import shingles, tokenise
from cosmo_assets.llm.client import LLMClient, open_endpoint
from cosmo_assets.stages import filtering
from cosmo_assets_tests.conftest import GOOD, OTHER, definitions, drafts, edit_yaml, instance_in, table
from cosmo_assets_tests.fake_llm_server import FakeLLMServer, default_reply

LEONARDO = (
    "Leonardo da Vinci was born on 15 April 1452 in Vinci, in the Republic of Florence. In his early life he "
    "trained in the workshop of Verrocchio, where he learned painting and engineering.\n\n"
    "His work and achievements include The Last Supper and the Mona Lisa. He filled notebooks with studies "
    "of anatomy and flight, and he died on May 2nd, 1519, in Amboise, France. His legacy shapes art today."
)
FACTS = [
    {"property": "born", "value": "1452-04-15"},
    {"property": "birthplace", "value": "Vinci, Republic of Florence"},
    {"property": "died", "value": "1519-05-02"},
    {"property": "known for", "value": "The Last Supper"},
]
SECTIONS = ["Introduction", "Early life", "Work and achievements", "Legacy"]


def outlines_for(frame: pl.DataFrame, content_type="textbook_section", sections=SECTIONS, facts=FACTS) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "outline_id": frame["outline_id"], "content_type": content_type,
            "sections": [sections] * frame.height, "required_facts": [facts] * frame.height,
        },
        schema={"outline_id": pl.String, "content_type": pl.String, "sections": pl.List(pl.String),
                "required_facts": pl.List(pl.Struct({"property": pl.String, "value": pl.String}))},
    )


SETTINGS = FilterSettings(
    min_words=20, max_words=400, min_section_coverage=0.5, min_fact_coverage=0.75,
    shapes={"how_to": ShapeRule(min_numbered_lines=2), "textbook_section": ShapeRule(min_paragraphs=2)},
)


def reasons(frame, outlines=None, settings=SETTINGS, **kwargs) -> dict[str, list[str]]:
    result = filtering.filter_drafts(frame, settings, "en", outlines, **kwargs)
    out = {d: [] for d in result.kept["draft_id"]}
    out.update(dict(zip(result.rejected["draft_id"], result.rejected["reject_reasons"].to_list())))
    return out


def test_numbers_and_dates_are_read_in_any_format():
    said = {c.key for c in claims.extract("about 6,650 km, on 15 April 1452, April 15th, 1452 and May 1519", "en")}
    assert said == {(6650.0, "km"), (1452, 4, 15), (1519, 5, 0)}
    facts = FACTS[:1] + [{"property": "length", "value": "about 6650 km"}]
    assert claims.check(LEONARDO + " The river is 6,650 km long.", facts).fact_coverage == 1.0
    assert claims.check(LEONARDO.replace("15 April 1452", "16 April 1452"), FACTS[:1]).fact_coverage == 0.0
    assert claims.check("Mona is here.", [{"property": "known for", "value": "Mona Lisa smile of Gioconda"}]).fact_coverage == 0.0


def test_an_article_following_its_outline_passes():
    frame = drafts(LEONARDO)
    got = filtering.score_drafts(frame, SETTINGS, "en", outlines_for(frame))
    assert got["section_coverage"][0] == 0.75  # "Introduction" is not there; the other three are
    assert got["fact_coverage"][0] == 1.0 and got["shape_fits"][0] and got["contradicted_facts"].to_list() == [[]]
    assert reasons(frame, outlines_for(frame)) == {"d0": []}


def test_sections_missing_fires_when_the_plan_is_not_covered():
    frame = drafts(LEONARDO)
    plan = outlines_for(frame, sections=["Geology", "Climate", "Rivers", "Legacy"])
    assert reasons(frame, plan)["d0"] == ["sections_missing"]


def test_shape_mismatch_fires_for_a_how_to_without_steps():
    frame = drafts(LEONARDO)
    assert "shape_mismatch" in reasons(frame, outlines_for(frame, content_type="how_to"))["d0"]
    steps = LEONARDO.replace("In his early", "\n1. In his early").replace("His work", "2. His work")
    assert "shape_mismatch" not in reasons(drafts(steps), outlines_for(drafts(steps), content_type="how_to"))["d0"]


def test_facts_missing_fires_when_the_seed_facts_are_not_stated():
    frame = drafts(GOOD + "\n\n" + OTHER)
    assert "facts_missing" in reasons(frame, outlines_for(frame, sections=["Nile"]))["d0"]


def test_a_contradicted_date_is_named():
    wrong = LEONARDO.replace("born on 15 April 1452", "born in 1460")
    frame = drafts(wrong)
    got = filtering.score_drafts(frame, SETTINGS, "en", outlines_for(frame))
    assert got["contradicted_facts"].to_list() == [["born: article says 1460, seed says 1452-04-15"]]
    assert "contradicts_facts" in reasons(frame, outlines_for(frame))["d0"]
    # a sentence about another event with another year is no contradiction
    assert claims.check("He was born on 15 April 1452. In 1482 he moved to Milan.", FACTS[:1]).contradicted == []


def _judgement(verdicts: list[str], scores=(4, 4, 4)) -> dict:
    return {"claims": [{"claim": f"claim {i}", "verdict": v} for i, v in enumerate(verdicts)],
            **dict(zip(("clarity", "accuracy", "educational_value"), scores))}


def test_judge_answers_are_read_and_contradicted_claims_or_low_scores_reject():
    assert read_judgement(_judgement(["supported", "contradicted", "unverifiable", "supported"])) == {
        "clarity": 4, "accuracy": 4, "educational_value": 4, "supported": 2, "contradicted": 1, "unverifiable": 1}
    assert read_judgement({"clarity": 9, "accuracy": 5, "educational_value": 3, "claims": []}) is None
    assert read_judgement(None) is None
    settings = SETTINGS.model_copy(update={"judge": SETTINGS.judge.model_copy(update={"enabled": True})})

    def judge(frame: pl.DataFrame) -> pl.DataFrame:
        rows = {"d0": (4, 3, 0, 1), "d1": (2, 3, 0, 0), "d2": (4, 2, 1, 0), "d3": (4, 1, 0, 3)}
        picked = [rows[d] for d in frame["draft_id"]]
        return pl.DataFrame({
            "judge_clarity": [p[0] for p in picked], "judge_accuracy": [4] * frame.height,
            "judge_educational_value": [4] * frame.height, "judge_supported": [p[1] for p in picked],
            "judge_contradicted": [p[2] for p in picked], "judge_unverifiable": [p[3] for p in picked],
        }, schema={c: pl.Int32 for c in ("judge_clarity", "judge_accuracy", "judge_educational_value",
                                         "judge_supported", "judge_contradicted", "judge_unverifiable")})

    third = ("Glaciers are rivers of ice that move slowly down mountain valleys. As they move they grind the rock "
             "beneath them, and when they melt they leave lakes, ridges and scattered boulders behind.")
    fourth = ("Deserts receive very little rain, yet many plants and animals live there. Cacti store water in thick "
              "stems, and small animals hide underground during the heat of the day to stay cool.")
    frame = drafts(GOOD, OTHER, third, fourth)
    assert reasons(frame, settings=settings, judge=judge) == {
        "d0": [], "d1": ["judged_poor"], "d2": ["judge_contradicts"], "d3": ["judge_contradicts"]}
    off = reasons(frame, settings=SETTINGS, judge=judge)  # configured off: never called
    assert off == {"d0": [], "d1": [], "d2": [], "d3": []}


def test_judge_checks_claims_through_the_llm_client_against_a_real_server(monkeypatch):
    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
    answers = {"Nile": json.dumps(_judgement(["supported", "supported", "contradicted"], (5, 4, 4))),
               "Volcanoes": "I cannot rate this."}

    def behaviour(prompt: str) -> str:
        assert "Known facts" in prompt and "- length: 6650 km" in prompt
        return next(a for key, a in answers.items() if key in prompt)

    fact = [{"property": "length", "value": "6650 km"}]
    frame = drafts(GOOD, OTHER).with_columns(title=pl.Series(["Nile", "Volcanoes"]), facts=pl.Series([fact, fact]))
    with FakeLLMServer(behaviour=behaviour) as server:
        settings = ModelSettings(model="openai/judge", api_base=server.api_base, max_retries=0)
        with open_endpoint(settings) as endpoint:
            scores = judge_drafts(frame, FilterSettings().judge, LLMClient(settings, endpoint).complete_all)
        schema = server.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["claims"]["items"]["properties"]["verdict"]["enum"] == list(VERDICTS)
    assert scores.rows() == [(5, 4, 4, 2, 1, 0), (None,) * 6]


def bench_index(tmp_path, items: list[dict], suffix=".jsonl") -> decontamination.BenchmarkIndex:
    path = tmp_path / f"bench{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(i) for i in items))
    else:
        pl.DataFrame(items).write_parquet(path)
    spec = {"name": "quiz", "path": path.name, "text_field": "question", "id_field": "id"}
    from cosmo_assets.config import BenchmarkFile

    return decontamination.load_index([(path, BenchmarkFile(**spec))], DecontaminationSettings())


QUESTION = "Which instrument did the young composer play at the royal court when he was only six years old?"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_planted_benchmark_item_is_removed_and_recorded(tmp_path, suffix):
    index = bench_index(tmp_path, [{"id": "q7", "question": QUESTION}, {"id": "q8", "question": "What is a volcano made of?"}], suffix)
    planted = OTHER + " " + QUESTION + " " + GOOD
    result = filtering.filter_drafts(drafts(planted, OTHER), FilterSettings(min_words=20, max_words=400), "en",
                                     benchmarks=index)
    [row] = result.rejected.iter_rows(named=True)
    assert row["draft_id"] == "d0" and row["reject_reasons"] == ["benchmark_contamination"]
    assert row["benchmark_match"] == "quiz:q7" and row["benchmark_overlap"] == 1.0
    assert result.kept["draft_id"].to_list() == ["d1"]


def test_a_partial_overlap_is_a_candidate_but_not_confirmed(tmp_path):
    item = [f"word{i}" for i in range(20)]
    index = bench_index(tmp_path, [{"id": "q9", "question": " ".join(item)}])

    def matched(words: list[str]) -> tuple:
        got = decontamination.match(tokenise(pl.DataFrame({"text": [" ".join(["zebra", *words, "zebra"])]})), index, 0.5)
        return got.row(0)

    assert matched(item[:9]) == (None, None)  # no shared 10-gram: not a candidate
    assert matched(item[:10]) == (None, None)  # a candidate, but exactly half is not over half
    assert matched(item[:11]) == ("quiz:q9", pytest.approx(11 / 20))


def test_a_benchmark_file_without_the_field_is_named(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "prompt": "x"}\n')
    from cosmo_assets.config import BenchmarkFile

    with pytest.raises(decontamination.BenchmarkFileError, match=r"bad\.jsonl: expected a field 'question'"):
        decontamination.read_benchmark(tmp_path / "bad.jsonl", BenchmarkFile(name="b", path="bad.jsonl"))


def test_signatures_equal_datasketch_minhash():
    from datasketch import MinHash

    settings = DedupSettings()
    tokenised = tokenise(pl.DataFrame({"text": [GOOD, OTHER]}))
    signature, grams, offsets = dedup.signatures(tokenised, settings)
    for row in range(2):
        one = MinHash(num_perm=settings.num_perm, seed=settings.seed, hashfunc=lambda x: x & 0xFFFFFFFF)
        one.update_batch(grams[offsets[row] : offsets[row + 1]].tolist())
        assert np.array_equal(signature[row], one.hashvalues)


def test_lsh_parameters_catch_pairs_above_the_threshold_that_automatic_ones_miss():
    from datasketch import MinHashLSH

    auto = MinHashLSH(threshold=0.8, num_perm=128)
    ours = DedupSettings()
    assert dedup.candidate_probability(0.82, ours.bands, ours.rows) > 0.99
    assert dedup.candidate_probability(0.82, auto.b, auto.r) < 0.9
    with pytest.raises(ValueError, match="must not exceed num_perm"):
        DedupSettings(num_perm=64, bands=20, rows=6)


def near_copy(text: str, changes: int) -> str:
    words = text.split()
    for i in range(changes):
        words[5 + i * 9] = "banana"
    return " ".join(words)


def test_exact_and_near_duplicates_keep_the_best_and_name_it():
    long_good = GOOD + " " + OTHER
    frame = drafts(long_good, long_good + "\n", near_copy(long_good, 1), GOOD, "short " * 30)
    result = filtering.filter_drafts(frame, FilterSettings(min_words=20, max_words=400), "en")
    rejected = {r["draft_id"]: r for r in result.rejected.iter_rows(named=True)}
    assert rejected["d1"]["reject_reasons"][-1] == "exact_duplicate" and rejected["d1"]["near_dup_of"] == "d0"
    assert rejected["d2"]["reject_reasons"] == ["near_duplicate"] and rejected["d2"]["near_dup_of"] == "d0"
    assert 0.8 <= rejected["d2"]["near_dup_similarity"] < 1.0
    assert "d3" in result.kept["draft_id"].to_list()  # shares a paragraph, but under the threshold
    assert "near_duplicate" not in rejected["d4"]["reject_reasons"]
    # the kept articles' band keys, for the persisted index
    assert sorted(result.index["draft_id"].unique()) == sorted(result.kept["draft_id"])
    assert result.index.height == result.kept.height * DedupSettings().bands


def test_a_rejected_draft_never_stands_for_its_duplicates():
    long_good = GOOD + " " + OTHER
    frame = drafts(long_good + " #a #b #c #d #e #f #g #h #i #j #k #l #m #n #o.", near_copy(long_good, 2))
    result = filtering.filter_drafts(frame, FilterSettings(min_words=20, max_words=400), "en")
    assert result.kept["draft_id"].to_list() == ["d1"]
    assert result.rejected["reject_reasons"].to_list()[0][0] == "too_many_symbols"


def test_shingles_skip_texts_shorter_than_a_shingle():
    grams, offsets = shingles(tokenise(pl.DataFrame({"text": ["one two", GOOD]}))["word_keys"], 5)
    assert offsets[1] == 0 and offsets[2] > 0


def test_planted_duplicates_across_two_domains_are_caught_in_the_balanced_dataset(config_dir, tmp_path, monkeypatch):
    # alpha and beta share one knowledge base: the same seed gets the same article in both domains, but for
    # its last sentence (whatever content type or style its outline drew): near duplicates across the two
    # domains, none within one.
    lock, calls = threading.Lock(), []

    def behaviour(prompt: str) -> str:
        with lock:
            calls.append(prompt)
            k = len(calls)
        # The seed's title and facts only: what both domains' outlines of one seed share, whatever
        # content type, structure or style each drew.
        title = re.search(r"“(.+?)”", prompt)
        facts = sorted(line.strip() for line in prompt.splitlines() if re.match(r"^\s+- ", line))
        canonical = f"About {title.group(1) if title else ''}\n" + "\n".join(facts)
        return default_reply(canonical) + f" This copy was written as number {k}."

    # Alignment with each outline's own sections is not what this test is about.
    edit_yaml(config_dir / "filters.yaml", lambda d: d.update(min_section_coverage=0.0, shapes={}))
    with FakeLLMServer(behaviour=behaviour) as server:
        monkeypatch.setenv("COSMO_LLM_MODEL", "openai/test-model")
        monkeypatch.setenv("COSMO_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
        defs = definitions(config_dir, seeds=3)
        with instance_in(tmp_path) as instance:
            for domain in ("alpha", "beta"):
                key = dg.MultiPartitionKey({"domain": domain, "language": "en"})
                assert defs.resolve_job_def("generate").execute_in_process(partition_key=key, instance=instance).success
            released = defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance)
            assert released.success
    kept = table(config_dir, "SELECT domain, count(*) FROM filtered_articles GROUP BY ALL ORDER BY 1")
    assert kept == [("alpha", 3), ("beta", 3)]
    [(shared,)] = table(config_dir, "SELECT count(*) FROM (SELECT title FROM seeds GROUP BY title HAVING count(DISTINCT domain) = 2)")
    drops = table(config_dir, "SELECT id, domain, near_dup_of, near_dup_domain, similarity FROM near_duplicate_drops")
    assert shared >= 1 and len(drops) == shared and all(d[1] != d[3] and 0.8 <= d[4] < 1.0 for d in drops)
    # The near duplicates never reach the candidates the quotas choose from; the copies they repeat do.
    candidates = {r[0] for r in table(config_dir, "SELECT id FROM release_candidates")}
    assert len(candidates) == 6 - shared and not candidates & {d[0] for d in drops}
    assert {d[2] for d in drops} <= candidates
    released_ids = {r[0] for r in table(config_dir, "SELECT id FROM balanced_dataset WHERE source = 'synthetic'")}
    assert released_ids <= candidates
    # the index persisted: band keys for every kept article, under the parameters that made them
    indexed = table(config_dir, "SELECT count(DISTINCT draft_id), count(DISTINCT params) FROM minhash_index")
    assert indexed == [(6, 1)]

    # a second release keeps what was already released, and drops the same newcomers
    with instance_in(tmp_path) as instance:
        assert defs.resolve_job_def("release").execute_in_process(partition_key="en", instance=instance).success
    assert {r[0] for r in table(config_dir, "SELECT id FROM balanced_dataset")} == released_ids


def test_release_duplicates_fingerprint_articles_missing_from_the_index(tmp_path):
    from cosmo_assets.storage import Storage, frame_schema

    storage = Storage(tmp_path / "x.duckdb")
    long_good = GOOD + " " + OTHER
    for domain, text in (("alpha", long_good), ("beta", near_copy(long_good, 1)), ("gamma", GOOD)):
        row = {c: None for c in frame_schema("filtered_articles")}
        row.update(draft_id=f"{domain}-1", outline_id="o", seed_id="s", domain=domain, language="en", text=text,
                   quality_score=0.9 if domain == "beta" else 0.5)
        storage.replace_partition("filtered_articles", pl.DataFrame([row], schema=frame_schema("filtered_articles")),
                                  {"domain": domain, "language": "en"})
    drops = filtering.release_duplicates(storage, load_config().filters, "en")
    assert drops.select("id", "near_dup_of").rows() == [("alpha-1", "beta-1")]
    with duckdb.connect(str(tmp_path / "x.duckdb")) as con:
        assert con.execute("SELECT count(*) FROM filtered_articles").fetchone()[0] == 3


def test_filter_config_errors_name_the_file_and_field(config_dir):
    from cosmo_assets.config import ConfigError
    from cosmo_assets_tests.conftest import edit_yaml

    (config_dir / "benchmarks" / "sample_questions.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"filters\.yaml: field 'decontamination\.benchmarks\.0\.path': expected an existing"):
        load_config(config_dir)
    edit_yaml(config_dir / "filters.yaml", lambda d: d["decontamination"].update(benchmarks=[]))
    edit_yaml(config_dir / "filters.yaml", lambda d: d["shapes"].update(poem={"min_paragraphs": 1}))
    with pytest.raises(ConfigError, match=r"field 'shapes': \['poem'\] are not content types"):
        load_config(config_dir)
    edit_yaml(config_dir / "filters.yaml", lambda d: (d["shapes"].pop("poem"), d["max_top_ngram_share"].pop(4)))
    with pytest.raises(ConfigError, match=r"max_top_ngram_share: expected one threshold for each n-gram size \[2, 3, 4\]"):
        load_config(config_dir)


def test_a_table_from_an_older_version_gains_the_new_score_columns(tmp_path):
    from cosmo_assets.storage import Storage

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE filtered_articles (draft_id VARCHAR NOT NULL, outline_id VARCHAR NOT NULL, "
                    "seed_id VARCHAR NOT NULL, domain VARCHAR NOT NULL, language VARCHAR NOT NULL, text VARCHAR NOT NULL, "
                    "word_count INTEGER, top_trigram_share DOUBLE, quality_score DOUBLE)")
        con.execute("INSERT INTO filtered_articles VALUES ('old', 'o', 's', 'geo', 'en', 'x', 1, 0.1, 0.5)")
    result = filtering.filter_drafts(drafts(GOOD), FilterSettings(min_words=20, max_words=400), "en")
    Storage(path).replace_partition("filtered_articles", result.kept, {"domain": "geo", "language": "en"})
    with duckdb.connect(str(path)) as con:
        rows = con.execute("SELECT draft_id, top_2gram_share IS NOT NULL, top_trigram_share FROM filtered_articles").fetchall()
    assert rows == [("d0", True, None)]
