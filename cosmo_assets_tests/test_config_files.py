"""Config load reads a little of every file the config names, so a wrong config fails before any
write: templates render against a sample outline, CSV/Parquet headers have the mapped columns, a
`wikidata` source is a dump, real-text rows name configured domains."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmo_assets.config import ConfigError, load_config
from cosmo_assets_tests.conftest import FIXTURES, write_yaml


def use_source(config_dir, source: dict) -> None:
    write_yaml(config_dir / "domains" / "alpha.yaml", {"name": "alpha", "title": "Alpha", "sources": [source]})


def test_an_undefined_template_variable_fails_at_load_naming_the_template_and_line(config_dir):
    template = config_dir / "templates" / "timeline.j2"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace("{% block task %}", "{% block task %}In {{ the_era }}: ", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"timeline\.j2 \(timeline\.j2:3\): 'the_era' is undefined \(rendering content type 'timeline'"):
        load_config(config_dir)


def test_a_template_that_fails_only_for_one_language_is_found(config_dir):
    # The audience block has no French line for this audience: only rendering every language finds it.
    blocks = config_dir / "templates" / "_blocks.j2"
    text = blocks.read_text(encoding="utf-8")
    first_fr = next(line for line in text.splitlines() if line.strip().startswith('"fr":'))
    blocks.write_text(text.replace(first_fr + "\n", "", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"for language 'fr'"):
        load_config(config_dir)


def test_a_main_command_with_a_broken_template_writes_nothing(config_dir, tmp_path):
    (config_dir / "templates" / "how_to.j2").write_text("{{ steps_to_follow }}\n", encoding="utf-8")
    env = {"COSMO_CONFIG_DIR": str(config_dir), "DAGSTER_HOME": str(tmp_path / "dh"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "cosmo_assets", "run"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "how_to.j2:1): 'steps_to_follow' is undefined" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_parquet_source_without_a_mapped_column_fails_at_load_from_its_header(config_dir):
    pq.write_table(pa.table({"entity": ["p1"], "label": ["Euclid"]}), config_dir / "knowledge_base" / "greeks.parquet")
    use_source(config_dir, {"kind": "parquet", "path": "knowledge_base/greeks.parquet", "topic_type": "person",
                            "columns": {"id": "entity", "title": "name"}, "facts": {"era": "era"}})
    with pytest.raises(ConfigError, match=r"alpha\.yaml: field 'sources\.0\.path': columns \['name', 'era'\] .* its header has \['entity', 'label'\]"):
        load_config(config_dir)


def test_a_wikidata_source_must_be_a_dump(config_dir):
    use_source(config_dir, {"kind": "wikidata", "path": "knowledge_base/tiny_kb.jsonl"})  # curated JSONL, not a dump
    with pytest.raises(ConfigError, match=r"alpha\.yaml: field 'sources\.0\.path': .*tiny_kb\.jsonl does not look like a Wikidata dump"):
        load_config(config_dir)
    shutil.copy(FIXTURES / "wikidata_sample.json.bz2", config_dir / "knowledge_base" / "dump.json.bz2")
    use_source(config_dir, {"kind": "wikidata", "path": "knowledge_base/dump.json.bz2"})
    assert load_config(config_dir).domain("alpha").sources[0].kind == "wikidata"


def test_a_real_text_row_with_an_unconfigured_domain_fails_at_load_naming_the_row(config_dir):
    corpus = config_dir / "real_text" / "tiny_real.jsonl"
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows[1]["domain"] = "zoology"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"balance\.yaml: field 'real_text\.corpora\.0': .*tiny_real\.jsonl:2: field 'domain': expected one of \['alpha', 'beta'\], got 'zoology'"):
        load_config(config_dir)
