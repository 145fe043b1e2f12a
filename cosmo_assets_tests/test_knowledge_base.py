"""Knowledge-base adapters: the Wikidata dump in its published format (plain, gzip, bz2), CSV and Parquet through a
column mapping, the domain's filters, and bad rows quarantined with their reasons while the rest go on."""

from __future__ import annotations

import bz2
import gzip
import json
import shutil

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmo_assets.config import ConfigError, load_config
from cosmo_assets.contracts import quarantined_share_within_limit
from cosmo_assets.definitions import build_definitions
from cosmo_assets.defs.resources import CosmoResource
from cosmo_assets.stages.seeds import read_seeds
from cosmo_assets_tests.conftest import FIXTURES, edit_yaml, use_sources

DUMP = FIXTURES / "wikidata_sample.json"


def facts_of(seeds, title: str) -> list[tuple[str, str]]:
    row = seeds.filter(seeds["title"] == title).row(0, named=True)
    return [(f["property"], f["value"]) for f in row["facts"]]


def dump_lines() -> list[str]:
    return DUMP.read_text(encoding="utf-8").splitlines()


# --- Wikidata --------------------------------------------------------------------------------


def test_the_bundled_sample_is_a_real_dump_in_plain_and_bz2():
    text = DUMP.read_text(encoding="utf-8")
    assert text.startswith("[\n") and text.rstrip().endswith("]")
    entities = json.loads(text)  # the whole file is one JSON array, one entity per line
    assert {e["id"] for e in entities} >= {"Q7186", "Q270", "Q12418"}
    assert bz2.decompress((FIXTURES / "wikidata_sample.json.bz2").read_bytes()).decode("utf-8") == text


@pytest.mark.parametrize("suffix", [".json", ".json.bz2", ".json.gz"])
def test_wikidata_dump_gives_seeds_in_the_partition_language(config_dir, suffix):
    target = config_dir / "knowledge_base" / f"dump{suffix}"
    if suffix == ".json.gz":
        target.write_bytes(gzip.compress(DUMP.read_bytes()))
    else:
        shutil.copy(FIXTURES / f"wikidata_sample{suffix}", target)
    use_sources(config_dir, [{"kind": "wikidata", "path": f"knowledge_base/dump{suffix}"}])
    config = load_config(config_dir)

    batch = read_seeds(config, "alpha", "en", limit=None)
    seeds = batch.seeds
    assert sorted(seeds["title"]) == [
        "France", "Leonardo da Vinci", "Marie Curie", "Mona Lisa", "Poland", "Warsaw", "World War II", "physics",
    ]
    curie = seeds.filter(seeds["source_id"] == "Q7186").row(0, named=True)
    assert curie["topic_type"] == "person" and curie["source"] == "wikidata"
    assert curie["description"] == "Polish-French physicist and chemist (1867–1934)"
    assert curie["keywords"] == ["Maria Skłodowska-Curie", "Marie Skłodowska Curie"]
    # Deprecated and "unknown value" statements are left out; item values read as their labels;
    # identifiers and images (not in wikidata_properties.yaml) never become facts.
    assert facts_of(seeds, "Marie Curie") == [
        ("date of birth", "1867-11-07"),
        ("place of birth", "Warsaw"),
        ("date of death", "1934-07-04"),
        ("country of citizenship", "Poland"),
        ("country of citizenship", "France"),
        ("occupation", "physicist"),
        ("award received", "Nobel Prize in Physics"),
        ("award received", "Nobel Prize in Chemistry"),
    ]
    assert facts_of(seeds, "Warsaw") == [
        ("country", "Poland"),
        ("capital of", "Poland"),
        ("population", "1863056"),
        ("area", "517.24 square kilometre"),
        ("coordinate location", "52.2300, 21.0111"),
    ]
    # Europe (Q46), Polish (Q809) and the Louvre (Q19675) are not in the dump: those facts are dropped, not "Q46".
    assert facts_of(seeds, "Poland") == [("capital", "Warsaw"), ("area", "312696 square kilometre")]
    assert facts_of(seeds, "Mona Lisa") == [("inception", "1503"), ("creator", "Leonardo da Vinci")]
    types = dict(zip(seeds["title"], seeds["topic_type"]))
    assert (types["Warsaw"], types["World War II"], types["physics"], types["Mona Lisa"]) == (
        "place", "event", "concept", "creative_work")
    # The awards and the occupation are entities too, but of no class mapped in seeds.yaml: skipped and
    # counted by class (the classes are not in the dump, so they have no label), not quarantined.
    assert batch.quarantine.height == 0
    report = batch.reports[0].as_metadata()
    assert report["kept"] == 8 and report["unresolved_values"] == 5  # also Paris (Q90) and science (Q336)
    assert report["skipped_unmapped"] == {"entities": 3, "top_classes": [
        {"class": "Q7191", "label": "", "entities": 2}, {"class": "Q28640", "label": "", "entities": 1}]}
    assert report["skipped"] == {"properties": 1, "unmapped": 3}  # the property P31 is no topic either


def test_wikidata_labels_descriptions_and_property_names_follow_the_language(config_dir):
    shutil.copy(DUMP, config_dir / "knowledge_base" / "dump.json")
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=True) for lang in d["languages"]])
    use_sources(config_dir, [{"kind": "wikidata", "path": "knowledge_base/dump.json"}], {"instance_of": ["Q5", "Q3305213"]})
    config = load_config(config_dir)
    fr = read_seeds(config, "alpha", "fr", None).seeds
    assert sorted(fr["title"]) == ["La Joconde", "Léonard de Vinci", "Marie Curie"]
    curie = fr.filter(fr["source_id"] == "Q7186").row(0, named=True)
    assert curie["description"] == "physicienne et chimiste polonaise naturalisée française"
    assert curie["keywords"] == ["Maria Skłodowska"]
    assert ("lieu de naissance", "Varsovie") in facts_of(fr, "Marie Curie")
    assert ("date de naissance", "1867-11-07") in facts_of(fr, "Marie Curie")
    assert ("créateur", "Léonard de Vinci") in facts_of(fr, "La Joconde")
    de = read_seeds(config, "alpha", "de", None).seeds
    assert ("Geburtsort", "Warschau") in facts_of(de, "Marie Curie")
    # The same entity in another language is another seed.
    assert set(fr["seed_id"]).isdisjoint(de["seed_id"])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"ids": ["Q7186", "Q12418"]}, ["Marie Curie", "Mona Lisa"]),
        ({"instance_of": ["Q5"]}, ["Leonardo da Vinci", "Marie Curie"]),
        ({"keywords": ["skłodowska", "renaissance"]}, ["Leonardo da Vinci", "Marie Curie"]),
        ({"instance_of": ["Q3624078"], "keywords": ["central europe"]}, ["Poland"]),
    ],
)
def test_a_domain_keeps_only_what_its_filters_name(config_dir, filters, expected):
    shutil.copy(DUMP, config_dir / "knowledge_base" / "dump.json")
    use_sources(config_dir, [{"kind": "wikidata", "path": "knowledge_base/dump.json"}], filters)
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)
    assert sorted(batch.seeds["title"]) == expected
    assert batch.quarantine.height == 0  # entities outside the domain are not the domain's bad rows


def test_bad_lines_of_a_dump_are_quarantined_and_the_rest_go_on(config_dir):
    lines = dump_lines()
    curie = json.loads(lines[1].rstrip(","))
    no_english = {**curie, "id": "Q90000001", "labels": {"pl": {"language": "pl", "value": "Tylko po polsku"}}}
    huge = {**curie, "id": "Q90000002", "labels": {"en": {"language": "en", "value": "Huge"}},
            "descriptions": {"en": {"language": "en", "value": "x" * 5000}}}
    broken = '{"type":"item","id":"Q90000003","labels":{"en":{"language":"en","value":"Broken"}},"claims":{'
    bad_bytes = json.dumps({**curie, "id": "Q90000004", "labels": {"en": {"language": "en", "value": "BAD"}}}).encode()
    bad_bytes = bad_bytes.replace(b'"BAD"', b'"B\xffD"')
    body = [line.rstrip(",").encode() for line in lines[1:-1]]
    body += [json.dumps(no_english).encode(), json.dumps(huge).encode(), broken.encode(), bad_bytes]
    (config_dir / "knowledge_base" / "dump.json.bz2").write_bytes(bz2.compress(b"[\n" + b",\n".join(body) + b"\n]\n"))
    use_sources(config_dir, [{"kind": "wikidata", "path": "knowledge_base/dump.json.bz2"}])
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)

    assert batch.seeds.height == 8  # the good entities all came through
    reasons = {row["source_id"]: (row["reason"], row["detail"]) for row in batch.quarantine.iter_rows(named=True)}
    assert reasons["Q90000001"] == ("missing_title", "field 'title' is missing or blank")
    assert reasons["Q90000002"][0] == "oversized_field" and "limits.description_chars=1000" in reasons["Q90000002"][1]
    assert reasons["Q90000003"][0] == "malformed_json" and reasons["Q90000003"][1].startswith("not valid JSON")
    assert reasons["Q90000004"][0] == "bad_encoding" and "not valid UTF-8" in reasons["Q90000004"][1]
    assert "Q38104" not in reasons  # an award: of no mapped class, skipped and counted, not a bad row
    assert batch.reports[0].figures["skipped_unmapped"]["entities"] == 3
    located = dict(zip(batch.quarantine["source_id"], batch.quarantine["location"]))
    assert located["Q90000003"] == f"line {body.index(broken.encode()) + 2}"  # line 1 is the array's "["
    assert all(str(config_dir / "knowledge_base" / "dump.json.bz2") == p for p in batch.quarantine["path"])


# --- CSV and Parquet -------------------------------------------------------------------------

CSV_MAPPING = {
    "columns": {"id": "qid", "title": "name", "topic_type": "kind", "description": "summary", "keywords": "tags",
                "language": "lang"},
    "facts": {"born": "born", "field": "field"},
    "topic_types": {"scientist": "person"},
}


def test_csv_rows_follow_the_column_mapping_and_bad_rows_are_quarantined(config_dir):
    csv_bytes = (
        "qid,name,kind,summary,tags,lang,born,field\n"
        "c1,Ada Lovelace,scientist,English mathematician,computing;poetry,en,1815-12-10,mathematics\n"
        'c2,"Noether, Emmy",person,"German mathematician, algebraist",,en,1882-03-23,algebra\n'
        "c3,Ada Lovelace (fr),scientist,mathématicienne anglaise,,fr,1815-12-10,\n"
        "c4,,person,no title here,,en,,\n"
        "c5,Mystery,wizard,not a topic type,,en,,\n"
        "c6,Long,concept," + "y" * 1200 + ",,en,,\n"
    ).encode() + b"c7,Bad \xff bytes,concept,broken encoding,,en,,\n"
    (config_dir / "knowledge_base" / "people.csv").write_bytes(csv_bytes)
    use_sources(config_dir, [{"kind": "csv", "name": "people", "path": "knowledge_base/people.csv", **CSV_MAPPING}])
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)

    seeds = batch.seeds
    assert sorted(seeds["title"]) == ["Ada Lovelace", "Noether, Emmy"]  # the fr row belongs to the fr partition
    ada = seeds.filter(seeds["source_id"] == "c1").row(0, named=True)
    assert ada["topic_type"] == "person" and ada["source"] == "people"
    assert ada["keywords"] == ["computing", "poetry"]
    assert [(f["property"], f["value"]) for f in ada["facts"]] == [("born", "1815-12-10"), ("field", "mathematics")]
    assert dict(zip(batch.quarantine["source_id"], batch.quarantine["reason"])) == {
        "c4": "missing_title", "c5": "unknown_topic_type", "c6": "oversized_field", "c7": "bad_encoding",
    }
    assert dict(zip(batch.quarantine["source_id"], batch.quarantine["location"]))["c7"] == "line 8"


def test_a_csv_without_a_mapped_column_names_file_and_columns(config_dir):
    (config_dir / "knowledge_base" / "people.csv").write_text("qid,title\nx,X\n")
    use_sources(config_dir, [{"kind": "csv", "path": "knowledge_base/people.csv", **CSV_MAPPING}])
    # Found at config load, from the header alone, before any run writes.
    with pytest.raises(ConfigError, match=r"alpha\.yaml: field 'sources\.0\.path': columns \['name', 'kind', 'summary', 'tags', 'lang', 'born', 'field'\] named in 'columns' / 'facts' are not in .*people\.csv"):
        load_config(config_dir)


def test_parquet_rows_follow_the_column_mapping_and_bad_rows_are_quarantined(config_dir):
    table = pa.table({
        "entity": ["p1", "p2", "p3", "p4"],
        "label": ["Euclid", None, "Hypatia", "Pythagorean theorem"],
        "summary": [b"Greek mathematician", b"no label", b"Alexandrian \xff scholar", b"a\xc2\xb2 + b\xc2\xb2 = c\xc2\xb2"],
        "era": ["fl. 300 BC", "", "c. 350-415", "c. 530 BC"],
    })
    pq.write_table(table, config_dir / "knowledge_base" / "greeks.parquet")
    use_sources(config_dir, [{
        "kind": "parquet", "path": "knowledge_base/greeks.parquet", "topic_type": "person",
        "columns": {"id": "entity", "title": "label", "description": "summary"}, "facts": {"era": "era"},
    }])
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)
    assert sorted(batch.seeds["title"]) == ["Euclid", "Pythagorean theorem"]
    theorem = batch.seeds.filter(batch.seeds["source_id"] == "p4").row(0, named=True)
    assert theorem["description"] == "a² + b² = c²" and theorem["source"] == "parquet"
    assert dict(zip(batch.quarantine["source_id"], batch.quarantine["reason"])) == {"p2": "missing_title", "p3": "bad_encoding"}
    assert dict(zip(batch.quarantine["source_id"], batch.quarantine["location"])) == {"p2": "row 2", "p3": "row 3"}


def test_a_domain_reads_several_sources_and_an_entity_seen_twice_is_kept_once(config_dir):
    shutil.copy(DUMP, config_dir / "knowledge_base" / "dump.json")
    use_sources(config_dir, [
        {"kind": "curated_jsonl", "path": "knowledge_base/tiny_kb.jsonl"},
        {"kind": "wikidata", "path": "knowledge_base/dump.json"},
    ], {"instance_of": [], "ids": []})
    batch = read_seeds(load_config(config_dir), "alpha", "en", None)
    assert batch.seeds.filter(batch.seeds["title"] == "Marie Curie")["source"].to_list() == ["curated_jsonl"]
    assert {r.source: r.same_title_as_earlier_source for r in batch.reports} == {"curated_jsonl": 0, "wikidata": 1}
    assert batch.seeds.height == 4 + 7


def test_a_source_file_that_is_not_there_names_the_field(config_dir):
    use_sources(config_dir, [{"kind": "wikidata", "path": "knowledge_base/latest-all.json.bz2"}])
    with pytest.raises(ConfigError, match=r"alpha\.yaml: field 'sources\.0\.path': file .*latest-all\.json\.bz2 not found"):
        load_config(config_dir)


# --- the quarantine in the seeds asset --------------------------------------------------------


def test_seeds_check_fails_when_the_bad_share_passes_the_threshold(config_dir):
    kb = config_dir / "knowledge_base" / "tiny_kb.jsonl"
    kb.write_text(kb.read_text() + '{"id": "tiny-broken", "title": "Broken"\n')
    config = load_config(config_dir)
    batch = read_seeds(config, "alpha", "en", None)
    assert batch.seeds.height == 4 and batch.read == 5 and batch.bad_share == pytest.approx(0.2)
    failing = quarantined_share_within_limit(batch.quarantine, batch.read, max_bad_share=0.05)
    assert not failing.passed
    assert failing.observed == {"rows_read": 5, "quarantined": 1, "bad_share": 0.2, "reasons": {"malformed_json": 1}}
    assert quarantined_share_within_limit(batch.quarantine, batch.read, max_bad_share=0.25).passed


def test_the_seeds_asset_writes_the_quarantine_table_and_goes_on(config_dir, tmp_path):
    kb = config_dir / "knowledge_base" / "tiny_kb.jsonl"
    kb.write_text(kb.read_text() + '{"id": "tiny-planet", "title": "Vulcan", "topic_type": "planet"}\n')
    edit_yaml(config_dir / "seeds.yaml", lambda d: d.update(max_bad_share=0.25))
    config = load_config(config_dir)
    defs = build_definitions(config, CosmoResource(config_dir=str(config_dir), seeds_per_partition=None))
    key = dg.MultiPartitionKey({"domain": "alpha", "language": "en"})
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            [defs.get_assets_def("seeds")], partition_key=key, instance=instance,
            resources={"cosmo": CosmoResource(config_dir=str(config_dir), seeds_per_partition=None)},
        )
        assert result.success
        [check] = result.get_asset_check_evaluations()
        assert check.passed and "quarantined share of knowledge-base rows" in check.metadata["expectations"].value
        [event] = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["quarantined"].value == 1 and metadata["rows"].value == 4
        assert metadata["bad_share"].value == 0.2
    with duckdb.connect(str(config.duckdb_path()), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM seeds").fetchone()[0] == 4
        rows = con.execute("SELECT domain, language, source, location, source_id, reason, detail FROM seed_quarantine").fetchall()
    assert rows == [("alpha", "en", "curated_jsonl", "line 5", "tiny-planet", "unknown_topic_type",
                     "topic_type 'planet' is not one of ['person', 'concept', 'event', 'place', 'organisation', 'creative_work']")]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: use_sources(d, [{"kind": "sqlite", "path": "knowledge_base/tiny_kb.jsonl"}]),
         r"alpha\.yaml: field 'sources\.0': Input tag 'sqlite' found using 'kind' does not match any of the expected tags"),
        (lambda d: use_sources(d, [{"kind": "wikidata", "path": "knowledge_base/tiny_kb.jsonl", "topic_types": {"planet": ["Q5"]}}]),
         r"alpha\.yaml: field 'sources\.0\.wikidata\.topic_types\.planet\.\[key\]': Input should be 'person'"),
        (lambda d: edit_yaml(d / "outlines.yaml", lambda x: x["structures"]["person"][0]["heading"].pop("de")),
         r"outlines\.yaml: field 'structures\.person\.0\.heading': expected a heading for every language in languages\.yaml, missing \['de'\]"),
        (lambda d: edit_yaml(d / "outlines.yaml", lambda x: x["content_types"][0].update(audiences=["toddlers"])),
         r"outlines\.yaml: .*content_types\.0\.audiences: \['toddlers'\] are not configured audiences"),
        (lambda d: edit_yaml(d / "seeds.yaml", lambda x: x.update(max_bad_share=2)),
         r"seeds\.yaml: field 'max_bad_share': Input should be less than or equal to 1"),
    ],
)
def test_bad_source_and_outline_settings_name_file_and_field(config_dir, change, expected):
    change(config_dir)
    with pytest.raises(ConfigError, match=expected):
        load_config(config_dir)
